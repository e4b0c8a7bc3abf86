//! The `*_FILE` convention of Docker and Kubernetes secrets: a secret's
//! variable `X` may instead be given as `X_FILE`, the path of a file that
//! holds the value. Setting both is refused (which one wins would be a
//! guess), and a file that cannot be read stops the start naming the
//! variable and the path. Never formats a file's content: a refusal says
//! what went wrong with the file, not what is in it.

use super::values::invalid;
use super::ConfigError;
use crate::adapters::file_secrets::read_secret_file;
use std::path::Path;

/// The value of `variable`, or the content of the file `file_variable`
/// names, with trailing line breaks trimmed (editors and `echo` add one).
///
/// # Errors
/// [`ConfigError`] when both are set, or naming `file_variable` and the
/// path when the file cannot be read, is too large or is not UTF-8
/// (the size cap is the file source's, [`read_secret_file`]).
pub fn value_or_file(
    variable: &'static str,
    value: Option<String>,
    file_variable: &'static str,
    path: Option<String>,
) -> Result<Option<String>, ConfigError> {
    let path = path.filter(|p| !p.trim().is_empty());
    match (value, path) {
        (Some(_), Some(_)) => Err(invalid(
            file_variable,
            format!("is set together with {variable}; set one of them (the file is the safer place for a secret)"),
        )),
        (value, None) => Ok(value),
        (None, Some(path)) => {
            let path = Path::new(path.trim());
            let text = read_secret_file(path)
                .map_err(|problem| invalid(file_variable, format!("cannot read {}: {problem}", path.display())))?;
            Ok(Some(text))
        }
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

    fn path_of(file: &tempfile::NamedTempFile) -> Option<String> {
        file.path().to_str().map(str::to_owned)
    }

    #[test]
    fn a_file_is_read_and_its_trailing_newline_trimmed() {
        let file = file_with(b"s3cret-password \r\n\n");
        let value = value_or_file("X", None, "X_FILE", path_of(&file)).unwrap();
        assert_eq!(value.as_deref(), Some("s3cret-password "));
        assert_eq!(value_or_file("X", Some("v".into()), "X_FILE", None).unwrap().as_deref(), Some("v"));
        assert_eq!(value_or_file("X", None, "X_FILE", Some("  ".into())).unwrap(), None);
    }

    #[test]
    fn both_set_is_refused_naming_both() {
        let file = file_with(b"sekrit-in-file");
        let message =
            value_or_file("DATABASE_URL", Some("sekrit-in-variable".into()), "DATABASE_URL_FILE", path_of(&file))
                .unwrap_err()
                .to_string();
        assert!(message.contains("DATABASE_URL_FILE") && message.contains("together with DATABASE_URL"), "{message}");
        assert!(!message.contains("sekrit"), "{message}");
    }

    #[test]
    fn an_unreadable_file_names_variable_and_path_never_content() {
        let message =
            value_or_file("X", None, "X_FILE", Some("/nonexistent/portcullis-secret".into())).unwrap_err().to_string();
        assert!(message.contains("X_FILE") && message.contains("/nonexistent/portcullis-secret"), "{message}");
        assert!(message.contains("no such file"), "{message}");
        let directory = tempfile::tempdir().unwrap();
        let message =
            value_or_file("X", None, "X_FILE", Some(directory.path().display().to_string())).unwrap_err().to_string();
        assert!(message.contains("X_FILE"), "{message}");
    }
}
