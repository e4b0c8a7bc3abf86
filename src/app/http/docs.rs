//! `/docs`: Swagger UI with its script and stylesheet inlined, served by the
//! service itself, under a Content-Security-Policy that allows exactly those
//! inline blocks (by hash) and nothing from elsewhere.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use poem::endpoint::make_sync;
use poem::{Endpoint, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The rendered page and the policy that lets it run.
#[derive(Clone)]
pub struct SwaggerPage {
    html: Arc<str>,
    policy: Arc<str>,
}

impl SwaggerPage {
    /// Wraps the page poem-openapi renders for the service.
    pub fn new(html: &str) -> Self {
        // The page names an empty icon, or browsers fetch `/favicon.ico`,
        // get a 404 and log it as a console error.
        let html = html.replacen("<head>", "<head>\n    <link rel=\"icon\" href=\"data:,\">", 1);
        let scripts = inline_blocks(&html, "script");
        let styles = inline_blocks(&html, "style");
        let policy = format!(
            "default-src 'none'; script-src {}; style-src {}; img-src 'self' data:; font-src 'self' data:; \
             connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            hashes(&scripts),
            hashes(&styles),
        );
        Self { html: html.into(), policy: policy.into() }
    }

    /// The Content-Security-Policy of the page.
    pub fn policy(&self) -> &str {
        &self.policy
    }

    pub fn endpoint(&self) -> impl Endpoint<Output = Response> {
        let page = self.clone();
        make_sync(move |_| {
            Response::builder()
                .content_type("text/html; charset=utf-8")
                .header("Content-Security-Policy", &*page.policy)
                .body(page.html.to_string())
        })
    }
}

/// The contents of every `<tag ...>...</tag>` block.
fn inline_blocks<'a>(html: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut blocks = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let after_open = &rest[start..];
        let Some(body_start) = after_open.find('>').map(|i| i + 1) else { break };
        let Some(body_len) = after_open[body_start..].find(&close) else { break };
        blocks.push(&after_open[body_start..body_start + body_len]);
        rest = &after_open[body_start + body_len + close.len()..];
    }
    blocks
}

fn hashes(blocks: &[&str]) -> String {
    blocks
        .iter()
        .map(|block| format!("'sha256-{}'", STANDARD.encode(Sha256::digest(block.as_bytes()))))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_hashes_every_inline_block_and_allows_nothing_remote() {
        let page = SwaggerPage::new(&poem_openapi::OpenApiService::new((), "Test", "1").swagger_ui_html());
        assert!(page.html.contains("SwaggerUIBundle"));
        assert!(
            page.html.contains(r#"<link rel="icon" href="data:,">"#) && page.policy().contains("img-src 'self' data:")
        );
        let scripts = inline_blocks(&page.html, "script");
        assert_eq!(scripts.len(), 2);
        assert_eq!(page.policy().matches("'sha256-").count(), 3);
        assert!(!page.policy().contains("unsafe") && !page.policy().contains("http"));
    }
}
