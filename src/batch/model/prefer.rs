//! The `Prefer` header of a batch request: `continue-on-error` (OData 4.01, with `=true` or
//! `=false`), `odata.continue-on-error` (OData 4.0), and `respond-async`.

/// What a batch request prefers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Preferences {
    /// `Some(true)` to go on after a failed operation, `Some(false)` to stop, `None` when the
    /// request did not say (the service default applies: stop).
    pub continue_on_error: Option<bool>,
    /// `respond-async`: the client accepts `202 Accepted` with a status monitor.
    pub respond_async: bool,
}

impl Preferences {
    /// Parses every value of the request's `Prefer` headers (comma-separated preferences,
    /// names case-insensitive, optional `=value` and `;` parameters).
    ///
    /// ```
    /// use batchpart::batch::Preferences;
    /// let p = Preferences::parse(["respond-async, odata.continue-on-error"]);
    /// assert_eq!(p.continue_on_error, Some(true));
    /// assert!(p.respond_async);
    /// assert_eq!(Preferences::parse(["continue-on-error=false"]).continue_on_error, Some(false));
    /// ```
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut p = Preferences::default();
        for v in values {
            for pref in v.split(',') {
                let pref = pref.split(';').next().unwrap_or("").trim();
                let (name, value) = match pref.split_once('=') {
                    Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                    None => (pref, None),
                };
                if name.eq_ignore_ascii_case("continue-on-error")
                    || name.eq_ignore_ascii_case("odata.continue-on-error")
                {
                    let on = match value {
                        None => true,
                        Some(v) if v.eq_ignore_ascii_case("true") => true,
                        Some(v) if v.eq_ignore_ascii_case("false") => false,
                        Some(_) => continue,
                    };
                    // The first occurrence wins, as RFC 7240 says for repeated preferences.
                    p.continue_on_error.get_or_insert(on);
                } else if name.eq_ignore_ascii_case("respond-async") {
                    p.respond_async = true;
                }
            }
        }
        p
    }

    /// Whether processing goes on after a failure (the OData default is to stop).
    pub fn continues(&self) -> bool {
        self.continue_on_error.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(Preferences::parse([]).continue_on_error, None);
        assert_eq!(
            Preferences::parse(["Continue-On-Error"]).continue_on_error,
            Some(true)
        );
        assert_eq!(
            Preferences::parse(["odata.continue-on-error=false"]).continue_on_error,
            Some(false)
        );
        assert_eq!(
            Preferences::parse(["continue-on-error=maybe"]).continue_on_error,
            None
        );
        let p = Preferences::parse([
            "return=minimal",
            "continue-on-error=true; x=y, respond-async",
        ]);
        assert_eq!(
            p,
            Preferences {
                continue_on_error: Some(true),
                respond_async: true
            }
        );
        assert!(!Preferences::parse(["wait=10"]).continues());
    }
}
