//! The messages' words: a subject, a plain-text and an HTML body for each
//! kind of message (verification, password reset, invitation), with
//! `{{link}}`, `{{email}}` and `{{expires_in}}` filled in. The defaults
//! ship in the binary (`templates/mail/`); an operator's directory may
//! replace any of the nine files. Values go into HTML
//! escaped. A template without `{{link}}` is refused at start: its mail
//! would be useless.

use crate::core::mail::{Mail, MailKind};
use crate::ports::RenderedMail;
use anyhow::{bail, Context};
use std::path::Path;

/// Each file name, its built-in content, and whether it must hold the link.
const FILES: [(&str, &str, bool); 9] = [
    ("verify-email.subject", include_str!("../../templates/mail/verify-email.subject"), false),
    ("verify-email.txt", include_str!("../../templates/mail/verify-email.txt"), true),
    ("verify-email.html", include_str!("../../templates/mail/verify-email.html"), true),
    ("password-reset.subject", include_str!("../../templates/mail/password-reset.subject"), false),
    ("password-reset.txt", include_str!("../../templates/mail/password-reset.txt"), true),
    ("password-reset.html", include_str!("../../templates/mail/password-reset.html"), true),
    ("invitation.subject", include_str!("../../templates/mail/invitation.subject"), false),
    ("invitation.txt", include_str!("../../templates/mail/invitation.txt"), true),
    ("invitation.html", include_str!("../../templates/mail/invitation.html"), true),
];

/// Template files larger than this are refused.
const MAX_TEMPLATE_BYTES: u64 = 64 * 1024;

#[derive(Clone, Debug)]
struct Template {
    subject: String,
    text: String,
    html: String,
}

/// The templates of every kind of message, and where links point.
#[derive(Clone, Debug)]
pub struct MailTemplates {
    public_url: String,
    verify: Template,
    reset: Template,
    invitation: Template,
}

impl MailTemplates {
    /// The built-in templates, with files in `directory` replacing them.
    ///
    /// # Errors
    /// A file that cannot be read, is too large, or lacks `{{link}}` where
    /// the link belongs.
    pub fn load(public_url: &str, directory: Option<&Path>) -> anyhow::Result<Self> {
        let mut texts = Vec::with_capacity(FILES.len());
        for (name, builtin, needs_link) in FILES {
            let text = match directory.map(|dir| dir.join(name)).filter(|path| path.exists()) {
                Some(path) => {
                    let size = std::fs::metadata(&path).with_context(|| format!("{}", path.display()))?.len();
                    if size > MAX_TEMPLATE_BYTES {
                        bail!("mail template {} is over {MAX_TEMPLATE_BYTES} bytes", path.display());
                    }
                    std::fs::read_to_string(&path).with_context(|| format!("mail template {}", path.display()))?
                }
                None => builtin.to_owned(),
            };
            if needs_link && !text.contains("{{link}}") {
                bail!("mail template {name} does not contain {{{{link}}}}: its mail would carry no link");
            }
            texts.push(text);
        }
        let template = |offset: usize| Template {
            // One line: a line break in a subject would start a header.
            subject: texts[offset].lines().next().unwrap_or_default().trim().to_owned(),
            text: texts[offset + 1].clone(),
            html: texts[offset + 2].clone(),
        };
        Ok(Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            verify: template(0),
            reset: template(3),
            invitation: template(6),
        })
    }

    /// The link a message carries: the token rides in the fragment, which
    /// browsers never send to a server nor put in a `Referer`. An
    /// invitation opens the reset page: its token is confirmed as a reset.
    pub fn link(&self, mail: &Mail) -> String {
        let page = match mail.kind {
            MailKind::VerifyEmail => "verify-email",
            MailKind::PasswordReset | MailKind::Invitation => "reset-password",
        };
        format!("{}/{page}#token={}", self.public_url, mail.token.expose())
    }

    pub fn render(&self, mail: &Mail) -> RenderedMail {
        let template = match mail.kind {
            MailKind::VerifyEmail => &self.verify,
            MailKind::PasswordReset => &self.reset,
            MailKind::Invitation => &self.invitation,
        };
        let link = self.link(mail);
        let expires_in = duration_words(mail.expires_in_seconds);
        let email = mail.to.as_str();
        let fill = |text: &str, escape: fn(&str) -> String| {
            text.replace("{{link}}", &escape(&link))
                .replace("{{email}}", &escape(email))
                .replace("{{expires_in}}", &escape(&expires_in))
        };
        RenderedMail {
            to: mail.to.clone(),
            subject: fill(&template.subject, str::to_owned),
            text: fill(&template.text, str::to_owned),
            html: fill(&template.html, html_escape),
        }
    }
}

/// `30 minutes`, `24 hours`.
fn duration_words(seconds: i64) -> String {
    if seconds % 3600 == 0 {
        let hours = seconds / 3600;
        format!("{hours} hour{}", if hours == 1 { "" } else { "s" })
    } else {
        let minutes = seconds / 60;
        format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
    }
}

fn html_escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::email::Email;
    use crate::core::refresh::RefreshToken;
    use crate::core::testkit::SeededEntropy;

    fn mail(kind: MailKind) -> Mail {
        Mail {
            to: Email::parse("ada@example.com").unwrap(),
            kind,
            token: RefreshToken::generate(&SeededEntropy::new(1)),
            expires_in_seconds: kind.ttl_seconds(),
        }
    }

    #[test]
    fn the_built_in_templates_carry_the_link_in_both_bodies() {
        let templates = MailTemplates::load("https://auth.example.com/", None).unwrap();
        let reset = mail(MailKind::PasswordReset);
        let rendered = templates.render(&reset);
        let link = format!("https://auth.example.com/reset-password#token={}", reset.token.expose());
        assert!(rendered.text.contains(&link), "{}", rendered.text);
        assert!(rendered.html.contains(&link));
        assert!(rendered.text.contains("30 minutes"));
        assert_eq!(rendered.subject, "Reset your password");
        let verify = templates.render(&mail(MailKind::VerifyEmail));
        assert!(verify.text.contains("24 hours") && verify.text.contains("/verify-email#token="));
        let invitation = mail(MailKind::Invitation);
        let rendered = templates.render(&invitation);
        let link = format!("https://auth.example.com/reset-password#token={}", invitation.token.expose());
        assert_eq!(rendered.subject, "You are invited: choose your password");
        assert!(rendered.text.contains(&link) && rendered.html.contains(&link), "{}", rendered.text);
        assert!(rendered.text.contains("24 hours") && rendered.text.contains("ada@example.com"));
    }

    #[test]
    fn the_invitation_is_overridable_like_the_others() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("invitation.txt"), "Welcome to Example: {{link}}").unwrap();
        let templates = MailTemplates::load("https://x.example", Some(dir.path())).unwrap();
        let rendered = templates.render(&mail(MailKind::Invitation));
        assert!(rendered.text.starts_with("Welcome to Example: https://x.example/reset-password#token="));
        assert!(rendered.html.contains("Choose your password"), "the HTML stays built in");
        std::fs::write(dir.path().join("invitation.html"), "<p>no link</p>").unwrap();
        let error = MailTemplates::load("https://x.example", Some(dir.path())).unwrap_err();
        assert!(error.to_string().contains("invitation.html"), "{error}");
    }

    #[test]
    fn an_operator_directory_overrides_single_files_and_html_values_are_escaped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("verify-email.html"), "<a href=\"{{link}}\">{{email}}</a>").unwrap();
        std::fs::write(dir.path().join("verify-email.subject"), "Welcome aboard\r\nBcc: evil@example.com").unwrap();
        let templates = MailTemplates::load("https://x.example/<b>", Some(dir.path())).unwrap();
        let rendered = templates.render(&mail(MailKind::VerifyEmail));
        assert!(rendered.html.starts_with("<a href=\"https://x.example/&lt;b&gt;/verify-email#token="));
        assert_eq!(rendered.subject, "Welcome aboard", "a subject is one line");
        assert!(rendered.text.contains("Someone, probably you"), "the other files stay built in");
    }

    #[test]
    fn a_template_without_the_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("password-reset.txt"), "Click somewhere").unwrap();
        let error = MailTemplates::load("https://x.example", Some(dir.path())).unwrap_err();
        assert!(error.to_string().contains("password-reset.txt"), "{error}");
    }
}
