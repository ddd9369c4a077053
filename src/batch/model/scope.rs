//! Where a batch's operations may go: the service root, and the one rule that confines every
//! operation URL to it (RFC 3986 §5: reference resolution and dot-segment removal).

use crate::batch::error::{BatchError, BatchErrorKind as K};

/// The part of the application a batch's operations may reach: a path prefix ending in `/`,
/// and the origin that absolute operation URLs must name.
///
/// | operation URL (root `/service/`, origin `api.example.com`) | dispatched as |
/// |---|---|
/// | `People(1)?$select=Name` | `/service/People(1)?$select=Name` |
/// | `People?next=https://x/admin` | `/service/People?next=https://x/admin` (a query is data) |
/// | `/service/People`, `./People`, `a/../People`, `%2e/People` | `/service/People` |
/// | `http://api.example.com/service/People`, `https://api.example.com:443/service/People`, `//api.example.com/service/People` | `/service/People` |
/// | `/service` | `/service` (the root itself) |
/// | `/admin`, `../admin`, `%2e%2e/admin`, `People/../../admin` | refused: outside the root |
/// | `http://evil.example/service/People`, `//evil.example/service/People`, `http://api.example.com:8080/service/` | refused: another origin |
/// | `http://user@api.example.com/service/` | refused: user information |
/// | `*` (asterisk-form), `api.example.com:443` (authority-form), `ftp:People`, `urn:x` | refused: not an HTTP resource |
/// | `People#frag`, `Peo ple`, `Peo\ple`, `People%zz` | refused: not a request target |
///
/// An absolute URL (or a scheme-relative `//host/...`) is allowed only on the service's origin:
/// the host and port of a configured absolute root, or else of the batch request's own `Host`,
/// with default ports normalised (`:80` for `http`, `:443` for `https`; where the batch
/// request's scheme is unknown, either counts as its default). Without a known origin, every
/// absolute URL is refused.
///
/// ```
/// use batchpart::batch::ServiceRoot;
/// let root = ServiceRoot::new("/service/").unwrap().with_host("api.example.com");
/// assert_eq!(root.resolve("People(1)").unwrap(), "/service/People(1)");
/// assert_eq!(root.resolve("https://api.example.com/service/People").unwrap(), "/service/People");
/// assert!(root.resolve("../admin/users").is_err());
/// assert!(root.resolve("http://evil.example/service/People").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRoot {
    path: String,
    origin: Option<Origin>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    /// Lower case; an IPv6 literal keeps its brackets.
    host: String,
    /// `None` for the scheme's default port.
    port: Option<u16>,
    /// `None` when the scheme is not known (a `Host` header alone).
    https: Option<bool>,
}

fn refuse(detail: impl Into<String>) -> BatchError {
    BatchError::new(K::OutsideServiceRoot, detail)
}

fn default_port(https: bool) -> u16 {
    if https {
        443
    } else {
        80
    }
}

impl ServiceRoot {
    /// A root from a path (`/service/`) or an absolute URL (`https://api.example.com/service/`),
    /// which also fixes the origin. A missing trailing `/` is added; dot segments are removed.
    pub fn new(root: &str) -> Result<Self, BatchError> {
        let (origin, rest) = match split_scheme(root) {
            Some((scheme, rest)) => {
                let https = http_scheme(scheme)
                    .ok_or_else(|| refuse(format!("service root {root} is not http(s)")))?;
                let rest = rest
                    .strip_prefix("//")
                    .ok_or_else(|| refuse(format!("service root {root} has no host")))?;
                let (origin, rest) = authority(rest, Some(https))?;
                (Some(origin), rest)
            }
            None => (None, root),
        };
        if !rest.starts_with('/') || rest.contains(['?', '#']) {
            return Err(refuse(format!(
                "service root {root} is not an absolute path without a query"
            )));
        }
        let mut path = normalize_path(rest)?;
        if !path.ends_with('/') {
            path.push('/');
        }
        Ok(ServiceRoot { path, origin })
    }

    /// The same root, with the origin of the batch request's `Host` (`host[:port]`) where the
    /// root names none. A `Host` that is not a valid authority leaves the origin unknown.
    pub fn with_host(mut self, host: &str) -> Self {
        self.with_authority(host, None);
        self
    }

    /// As [`with_host`](Self::with_host), with the batch request's scheme when it is known.
    pub(crate) fn with_authority(&mut self, host: &str, https: Option<bool>) {
        if self.origin.is_none() {
            if let Ok((o, "")) = authority(host, https) {
                self.origin = Some(o);
            }
        }
    }

    /// The root's path, ending in `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The request target (path and query) that an operation URL dispatches to, or an
    /// [`OutsideServiceRoot`](crate::batch::BatchErrorKind::OutsideServiceRoot) error: see the
    /// table on [`ServiceRoot`].
    pub fn resolve(&self, url: &str) -> Result<String, BatchError> {
        if let Some(c) = url
            .chars()
            .find(|&c| c.is_ascii_control() || c == ' ' || c == '\\' || c == '#')
        {
            return Err(refuse(format!(
                "{url:?} is not a request target (it holds {c:?})"
            )));
        }
        if url == "*" {
            return Err(refuse("an asterisk-form target is not a resource"));
        }
        let rest = match split_scheme(url) {
            Some((scheme, rest)) => {
                let https = http_scheme(scheme).ok_or_else(|| {
                    refuse(format!(
                        "{url} is not an http(s) URL under the service root"
                    ))
                })?;
                let rest = rest
                    .strip_prefix("//")
                    .ok_or_else(|| refuse(format!("{url} has no host")))?;
                self.same_origin(url, rest, Some(https))?
            }
            None => match url.strip_prefix("//") {
                Some(rest) => self.same_origin(url, rest, None)?,
                None => url,
            },
        };
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let joined;
        let path = if path.starts_with('/') {
            path
        } else {
            joined = format!("{}{path}", self.path);
            &joined
        };
        let path = normalize_path(path)?;
        let inside = path.starts_with(&self.path)
            || path.len() + 1 == self.path.len() && self.path.starts_with(&path);
        if !inside {
            return Err(refuse(format!(
                "{url} resolves to {path}, outside the service root {}",
                self.path
            )));
        }
        Ok(match query {
            Some(q) => format!("{path}?{q}"),
            None => path,
        })
    }

    /// Checks the authority at the start of `rest` against the origin; returns what follows it.
    fn same_origin<'a>(
        &self,
        url: &str,
        rest: &'a str,
        https: Option<bool>,
    ) -> Result<&'a str, BatchError> {
        let Some(origin) = &self.origin else {
            return Err(refuse(format!(
                "{url} names a host, and the service's origin is unknown"
            )));
        };
        let (theirs, rest) = authority(rest, https)?;
        let schemes_differ = matches!((theirs.https, origin.https), (Some(a), Some(b)) if a != b);
        if theirs.host != origin.host || schemes_differ || !ports_match(&theirs, origin) {
            return Err(refuse(format!("{url} names another origin")));
        }
        Ok(if rest.is_empty() { "/" } else { rest })
    }
}

/// Whether two origins' ports are the same once defaults are normalised.
fn ports_match(a: &Origin, b: &Origin) -> bool {
    // An explicit port that is its scheme's default counts as none; where a scheme is
    // unknown, either default does.
    let norm = |o: &Origin| match (o.port, o.https) {
        (Some(p), Some(https)) if p == default_port(https) => None,
        (Some(p @ (80 | 443)), None) => Some((p, true)),
        (p, _) => p.map(|p| (p, false)),
    };
    match (norm(a), norm(b)) {
        (None, None) => true,
        (Some((p, _)), Some((q, _))) => p == q,
        (Some((_, default)), None) | (None, Some((_, default))) => default,
    }
}

/// `Some(https)` for the two HTTP schemes.
fn http_scheme(scheme: &str) -> Option<bool> {
    if scheme.eq_ignore_ascii_case("https") {
        Some(true)
    } else if scheme.eq_ignore_ascii_case("http") {
        Some(false)
    } else {
        None
    }
}

/// The scheme and what follows its `:`, where the URL starts with one (RFC 3986 §3.1:
/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` before the first `:`, `/` or `?`).
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let end = url.find([':', '/', '?'])?;
    let (scheme, rest) = url.split_at(end);
    let rest = rest.strip_prefix(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some((scheme, rest))
}

/// The authority at the start of `s` (up to `/`, `?` or the end) and what follows it.
fn authority(s: &str, https: Option<bool>) -> Result<(Origin, &str), BatchError> {
    let end = s.find(['/', '?']).unwrap_or(s.len());
    let (auth, rest) = s.split_at(end);
    if auth.contains('@') {
        return Err(refuse(format!("{auth} carries user information")));
    }
    let (host, port) = match auth.strip_prefix('[') {
        Some(v6) => {
            let close = v6
                .find(']')
                .ok_or_else(|| refuse(format!("{auth} is not a valid authority")))?;
            (&auth[..close + 2], &v6[close + 1..])
        }
        None => match auth.find(':') {
            Some(i) => auth.split_at(i),
            None => (auth, ""),
        },
    };
    let port = match port {
        "" | ":" => None,
        p => Some(
            p.strip_prefix(':')
                .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse::<u16>().ok())
                .ok_or_else(|| refuse(format!("{auth} has an invalid port")))?,
        ),
    };
    let valid = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]".contains(&b);
    if host.is_empty() || !host.bytes().all(valid) {
        return Err(refuse(format!("{auth} is not a valid authority")));
    }
    let origin = Origin {
        host: host.to_ascii_lowercase(),
        port,
        https,
    };
    Ok((origin, rest))
}

/// An absolute path with percent-encoded unreserved characters decoded (so `%2e%2e` is `..`,
/// as RFC 3986 §6.2.2.2 reads it) and dot segments removed (§5.2.4). Other escapes stay as
/// sent (`%2F` is data in a segment, not a separator); a malformed one is refused.
fn normalize_path(path: &str) -> Result<String, BatchError> {
    let mut decoded = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find('%') {
        decoded.push_str(&rest[..i]);
        let hex = rest
            .get(i + 1..i + 3)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| refuse(format!("{path} holds a malformed percent-encoding")))?;
        let byte = u8::from_str_radix(hex, 16).unwrap_or(0);
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            decoded.push(char::from(byte));
        } else {
            decoded.push('%');
            decoded.push_str(&hex.to_ascii_uppercase());
        }
        rest = &rest[i + 3..];
    }
    decoded.push_str(rest);
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." | ".." => {
                if *seg == ".." {
                    out.pop();
                }
                // `a/..` and `a/.` name the directory: keep the trailing slash.
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut normalized = String::with_capacity(decoded.len());
    for seg in &out {
        normalized.push('/');
        normalized.push_str(seg);
    }
    if normalized.is_empty() {
        normalized.push('/');
    }
    Ok(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Refused for being outside the root, not for any other reason.
    fn outside(r: Result<String, BatchError>) {
        assert_eq!(r.map_err(|e| e.kind()), Err(K::OutsideServiceRoot));
    }

    fn root() -> ServiceRoot {
        ServiceRoot::new("/service/")
            .unwrap()
            .with_host("API.example.com")
    }

    #[test]
    fn accepted() {
        let r = root();
        for (url, want) in [
            ("People(1)?$select=Name", "/service/People(1)?$select=Name"),
            (
                "People?next=https://x/delay/7",
                "/service/People?next=https://x/delay/7",
            ),
            ("/service/People", "/service/People"),
            ("./People", "/service/People"),
            ("a/../People", "/service/People"),
            ("%2e/People", "/service/People"),
            ("%50eople", "/service/People"),
            ("People('a%2fb')", "/service/People('a%2Fb')"),
            ("http://api.example.com/service/People", "/service/People"),
            (
                "HTTPS://api.EXAMPLE.com:443/service/People",
                "/service/People",
            ),
            (
                "http://api.example.com:80/service/People",
                "/service/People",
            ),
            ("//api.example.com/service/People", "/service/People"),
            ("/service", "/service"),
            ("/service/", "/service/"),
            ("People/.", "/service/People/"),
            ("Customers(Time=12:00)", "/service/Customers(Time=12:00)"),
            ("?x=1", "/service/?x=1"),
        ] {
            assert_eq!(r.resolve(url).as_deref().ok(), Some(want), "{url}");
        }
    }

    #[test]
    fn refused() {
        let r = root();
        for url in [
            "/admin/users",
            "../admin/users",
            "%2e%2e/admin/users",
            "%2E%2E/admin/users",
            ".%2e/admin",
            "People/../../admin",
            "/service/../admin",
            "/servicex/People",
            "/",
            "http://evil.example/admin/users",
            "http://evil.example/service/People",
            "//evil.example/service/People",
            "http://api.example.com:8080/service/People",
            "https://api.example.com:80/service/People",
            "http://user@api.example.com/service/People",
            "http://api.example.com:x/service/",
            "*",
            "api.example.com:443",
            "ftp:People",
            "urn:x",
            "mailto:a@b",
            "People#frag",
            "Peo ple",
            "Peo\\ple",
            "People%zz",
            "People%2",
            "http:/service/People",
        ] {
            let e = r.resolve(url).expect_err(url);
            assert_eq!(e.kind(), K::OutsideServiceRoot, "{url}");
        }
    }

    #[test]
    fn without_an_origin_absolute_urls_are_refused() {
        let r = ServiceRoot::new("/service").unwrap();
        assert_eq!(r.path(), "/service/");
        assert_eq!(r.resolve("People").unwrap(), "/service/People");
        for url in ["http://h/service/People", "//h/service/People"] {
            assert_eq!(r.resolve(url).unwrap_err().kind(), K::OutsideServiceRoot);
        }
    }

    #[test]
    fn an_absolute_root_fixes_the_origin_and_ignores_the_host() {
        let r = ServiceRoot::new("https://api.example.com/odata/v4/")
            .unwrap()
            .with_host("other.example");
        assert_eq!(
            r.resolve("https://api.example.com:443/odata/v4/Books")
                .unwrap(),
            "/odata/v4/Books"
        );
        outside(r.resolve("http://api.example.com/odata/v4/Books"));
        outside(r.resolve("http://other.example/odata/v4/Books"));
        for bad in ["ftp://h/x/", "https:x", "https://h/x?q", "relative/"] {
            assert_eq!(
                ServiceRoot::new(bad).unwrap_err().kind(),
                K::OutsideServiceRoot,
                "{bad}"
            );
        }
    }

    #[test]
    fn ports_are_compared_with_defaults_normalised() {
        let r = ServiceRoot::new("/s/").unwrap().with_host("h:8080");
        assert!(r.resolve("http://h:8080/s/a").is_ok());
        outside(r.resolve("http://h/s/a"));
        let r = ServiceRoot::new("/s/").unwrap().with_host("h:443");
        assert!(r.resolve("https://h/s/a").is_ok());
        assert!(r.resolve("http://h/s/a").is_ok());
        let mut r = ServiceRoot::new("/s/").unwrap();
        r.with_authority("h", Some(true));
        assert!(r.resolve("https://h:443/s/a").is_ok());
        outside(r.resolve("http://h/s/a"));
        let r = ServiceRoot::new("/s/").unwrap().with_host("[::1]:9000");
        assert!(r.resolve("http://[::1]:9000/s/a").is_ok());
        outside(r.resolve("http://[::2]:9000/s/a"));
    }

    #[test]
    fn dot_segments() {
        for (p, want) in [
            ("/a/b/../c", "/a/c"),
            ("/a/./b", "/a/b"),
            ("/../a", "/a"),
            ("/a/b/..", "/a/"),
            ("/a//b", "/a//b"),
            ("/", "/"),
        ] {
            assert_eq!(normalize_path(p).unwrap(), want, "{p}");
        }
    }
}
