//! Signing keys from a file (`PORTCULLIS_SECRETS=file`, the file named by
//! `PORTCULLIS_JWT_KEYS_FILE`): a Docker secret or a mounted Kubernetes
//! Secret. The file is read again on every fetch, because Kubernetes
//! updates a mounted Secret in place and a rotation must reach a running
//! replica without a restart. The file holds a JSON ring document or the
//! legacy comma-separated list ([`RingDocument::parse`]).
//!
//! Also the one place that reads a secret file with a size cap
//! ([`read_secret_file`]), which configuration uses for every `*_FILE`
//! variable. Nothing here ever formats what a file holds.

use crate::ports::{RingDocument, SecretError, SecretSource};
use async_trait::async_trait;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The largest secret file read. A ring of a few dozen PEM keys is far
/// below it; anything larger is a wrong path (a log file, a binary), and
/// reading it whole on every fetch would be a cost an attacker could set.
pub const MAX_SECRET_FILE_BYTES: u64 = 256 * 1024;

/// Why a secret file could not be read: the failure only, never content.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    #[error("no such file")]
    NotFound,
    #[error("{0}")]
    Io(String),
    #[error("the file is larger than {MAX_SECRET_FILE_BYTES} bytes")]
    TooLarge,
    #[error("the file is not UTF-8 text")]
    NotText,
    #[error("it is not a regular file")]
    NotRegular,
}

/// Reads one secret file: at most [`MAX_SECRET_FILE_BYTES`], UTF-8, with
/// trailing `\n` / `\r\n` trimmed (editors and `echo` add one).
///
/// # Errors
/// [`FileProblem`] describing the failure (the I/O error's kind, the size,
/// the encoding), never the content.
pub fn read_secret_file(path: &Path) -> Result<String, FileProblem> {
    // Before opening: opening a FIFO blocks until a writer comes, and a
    // device (`/dev/zero`, `/dev/stdin`) is never a secret. Symbolic links
    // are followed, as Kubernetes mounts each key as one.
    if !std::fs::metadata(path).map_err(|error| describe_io(&error))?.is_file() {
        return Err(FileProblem::NotRegular);
    }
    let file = std::fs::File::open(path).map_err(|error| describe_io(&error))?;
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|error| describe_io(&error))?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(FileProblem::TooLarge);
    }
    let text = String::from_utf8(bytes).map_err(|_| FileProblem::NotText)?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// The I/O error's kind, which is what an operator needs (not found,
/// permission denied, a directory), and nothing read from the file.
fn describe_io(error: &std::io::Error) -> FileProblem {
    match error.kind() {
        std::io::ErrorKind::NotFound => FileProblem::NotFound,
        std::io::ErrorKind::PermissionDenied => FileProblem::Io("permission denied".to_owned()),
        std::io::ErrorKind::IsADirectory => FileProblem::Io("it is a directory".to_owned()),
        kind => FileProblem::Io(kind.to_string()),
    }
}

/// The longest a read may take: a file on a hung network mount must not
/// hold a fetch for ever.
const READ_DEADLINE: Duration = Duration::from_secs(5);

/// The ring in a file, read again on every fetch.
pub struct FileSecrets {
    path: PathBuf,
}

impl fmt::Debug for FileSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSecrets").field("path", &self.path).finish()
    }
}

impl FileSecrets {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl SecretSource for FileSecrets {
    /// A missing or unreadable file is [`SecretError::Unavailable`] (a
    /// mount being swapped is a passing state, and the caller keeps its
    /// last good ring); an empty file is [`SecretError::Missing`]; text
    /// that is not a ring is [`SecretError::Malformed`].
    async fn key_ring(&self) -> Result<RingDocument, SecretError> {
        let path = self.path.clone();
        // A file read can block (a network mount); keep it off the workers.
        let read = tokio::task::spawn_blocking(move || read_secret_file(&path));
        let text = tokio::time::timeout(READ_DEADLINE, read)
            .await
            .map_err(|_| SecretError::Unavailable(anyhow::anyhow!("the key-ring file did not read within 5 s")))?
            .map_err(|error| SecretError::Unavailable(anyhow::anyhow!("the file read was interrupted: {error}")))?
            .map_err(|problem| match problem {
                FileProblem::TooLarge | FileProblem::NotText => SecretError::Malformed(problem.to_string()),
                FileProblem::NotFound | FileProblem::Io(_) | FileProblem::NotRegular => SecretError::Unavailable(
                    anyhow::anyhow!("PORTCULLIS_JWT_KEYS_FILE {}: {problem}", self.path.display()),
                ),
            })?;
        let document = RingDocument::parse(&text)?;
        if document.keys.is_empty() {
            return Err(SecretError::Missing);
        }
        Ok(document)
    }

    fn name(&self) -> &'static str {
        "file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(content: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content).unwrap();
        file
    }

    #[test]
    fn a_secret_file_is_read_with_its_trailing_newlines_trimmed() {
        let file = file_with(b"s3cret-password \r\n\n");
        assert_eq!(read_secret_file(file.path()).unwrap(), "s3cret-password ");
    }

    #[test]
    fn oversized_binary_missing_and_directory_files_are_described_without_content() {
        let secret = b"sekrit-sekrit";
        let big = file_with(&secret.repeat(30_000));
        assert!(matches!(read_secret_file(big.path()), Err(FileProblem::TooLarge)));
        let mut binary = secret.to_vec();
        binary.extend_from_slice(&[0xff, 0xfe]);
        assert!(matches!(read_secret_file(file_with(&binary).path()), Err(FileProblem::NotText)));
        assert!(matches!(read_secret_file(Path::new("/nonexistent/portcullis")), Err(FileProblem::NotFound)));
        let directory = tempfile::tempdir().unwrap();
        assert!(matches!(read_secret_file(directory.path()), Err(FileProblem::NotRegular)));
    }

    #[test]
    fn devices_and_fifos_are_refused_without_blocking() {
        // /dev/zero would never end and a FIFO would block the open until
        // someone writes: an attacker who can point a *_FILE variable at
        // one must not hang the start or a refresh.
        assert!(matches!(read_secret_file(Path::new("/dev/zero")), Err(FileProblem::NotRegular)));
        let directory = tempfile::tempdir().unwrap();
        let fifo = directory.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|status| status.success());
        if made {
            assert!(matches!(read_secret_file(&fifo), Err(FileProblem::NotRegular)));
        }
    }

    #[tokio::test]
    async fn an_oversized_file_is_malformed_and_a_missing_one_unavailable() {
        let big = file_with(&b"k".repeat(300 * 1024));
        let error = FileSecrets::new(big.path()).key_ring().await.unwrap_err();
        assert!(matches!(error, SecretError::Malformed(ref m) if m.contains("larger than")), "{error:?}");
        let error = FileSecrets::new("/nonexistent/ring.json").key_ring().await.unwrap_err();
        assert!(matches!(error, SecretError::Unavailable(_)), "{error:?}");
        assert_eq!(FileSecrets::new("/x").name(), "file");
    }
}
