//! Validation of batch requests, following OData 4.01 (Part 1 section 11.7, JSON Format
//! section 19), with an OData 4.0 mode where they differ. Items are checked one at a time, as
//! the readers produce them.

use std::collections::HashSet;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::model::scope::ServiceRoot;
use crate::batch::model::{normalize_content_id, Text};
use crate::batch::model::{reference, Item, RequestOp};

/// The OData version whose rules apply where the versions differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ODataVersion {
    /// OData 2.0 (pyodata, SAP's V2 services): changeset operations need no Content-ID;
    /// Content-IDs unique within their changeset; the batch is answered `202 Accepted`.
    V2_0,
    /// OData 3.0: as 2.0.
    V3_0,
    /// Content-IDs required in changesets, unique within their changeset.
    V4_0,
    /// Content-IDs required in changesets, unique across the whole batch.
    #[default]
    V4_01,
}

impl ODataVersion {
    /// The version a request names, from `OData-Version` or, for 2.0 and 3.0,
    /// `DataServiceVersion` (with its `;NetFx` suffix); `None` for anything else.
    ///
    /// ```
    /// use batchpart::batch::ODataVersion;
    /// assert_eq!(ODataVersion::from_headers(None, Some("2.0;NetFx")), Some(ODataVersion::V2_0));
    /// assert_eq!(ODataVersion::from_headers(Some("4.0"), Some("3.0")), Some(ODataVersion::V4_0));
    /// assert_eq!(ODataVersion::from_headers(None, None), None);
    /// ```
    pub fn from_headers(
        odata_version: Option<&str>,
        data_service_version: Option<&str>,
    ) -> Option<Self> {
        let parse = |v: &str| match v.split(';').next().unwrap_or("").trim() {
            "2.0" => Some(ODataVersion::V2_0),
            "3.0" => Some(ODataVersion::V3_0),
            "4.0" => Some(ODataVersion::V4_0),
            "4.01" => Some(ODataVersion::V4_01),
            _ => None,
        };
        odata_version
            .and_then(parse)
            .or_else(|| data_service_version.and_then(parse))
    }

    /// The status of a batch response in this version: `202 Accepted` for 2.0 and 3.0,
    /// `200 OK` for 4.x.
    pub fn batch_status(self) -> u16 {
        match self {
            ODataVersion::V2_0 | ODataVersion::V3_0 => 202,
            ODataVersion::V4_0 | ODataVersion::V4_01 => 200,
        }
    }

    /// Whether every changeset operation needs a Content-ID (4.x).
    fn requires_content_ids(self) -> bool {
        matches!(self, ODataVersion::V4_0 | ODataVersion::V4_01)
    }
}

/// Headers a batch operation must not carry (OData 4.01, 11.7.2): authorization belongs to
/// the batch request itself.
pub const FORBIDDEN_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "expect",
    "from",
    "max-forwards",
    "range",
    "te",
];

/// What validation checks, and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValidationOptions {
    /// Which rules apply where the versions differ.
    pub version: ODataVersion,
    /// Refuse the [`FORBIDDEN_HEADERS`] in operations. On by default.
    pub forbid_headers: bool,
    /// JSON format rules: every request has an `id`, ids differ from atomicity groups,
    /// `dependsOn` names only earlier ids or groups, and a `$id` URL names a dependency.
    pub json: bool,
    /// Content-IDs (JSON ids) must be unique. On by default; Creatio's own documentation
    /// reuses an id, so its dialect turns this off.
    pub unique_content_ids: bool,
    /// Where operations may go: every URL that names no `$<content-id>` must resolve under
    /// this root ([`ServiceRoot::resolve`]), and must not be the root's own `$batch`. Default
    /// `None`: no check (a reader of a batch that is not about to be served). The tower service
    /// sets it from its own root and the batch request's `Host`, and checks again, after
    /// references are substituted, what it dispatches.
    pub scope: Option<ServiceRoot>,
}

setters!(ValidationOptions {
    with_version => version: ODataVersion,
    with_forbid_headers => forbid_headers: bool,
    with_json => json: bool,
    with_unique_content_ids => unique_content_ids: bool,
    with_scope => scope: Option<ServiceRoot>,
});

impl Default for ValidationOptions {
    fn default() -> Self {
        ValidationOptions {
            version: ODataVersion::V4_01,
            forbid_headers: true,
            json: false,
            unique_content_ids: true,
            scope: None,
        }
    }
}

/// Checks request items in order, remembering what it has seen.
#[derive(Debug, Clone, Default)]
pub struct Validator {
    opts: ValidationOptions,
    ops: usize,
    ids: HashSet<Text>,
    groups: HashSet<String>,
    last_group: Option<String>,
}

fn err(kind: K, index: usize, op: &RequestOp, detail: impl Into<String>) -> BatchError {
    BatchError::new(kind, detail).at_op(index, op.content_id.clone())
}

/// The first of an operation's headers that is one of the [`FORBIDDEN_HEADERS`].
pub(crate) fn forbidden_header(headers: &crate::batch::Headers) -> Option<&str> {
    headers
        .iter()
        .map(|(n, _)| n)
        .find(|n| FORBIDDEN_HEADERS.iter().any(|f| n.eq_ignore_ascii_case(f)))
}

/// Is the URL's path a `$batch` resource (a nested batch)?
pub(crate) fn is_batch_url(url: &str) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let path = path.trim_end_matches('/');
    // `%24` is `$` to an application that decodes its paths before routing.
    let last = path.rsplit('/').next().unwrap_or("");
    last == "$batch" || last == "%24batch"
}

impl Validator {
    /// A validator with these options.
    pub fn new(opts: ValidationOptions) -> Self {
        Validator {
            opts,
            ..Default::default()
        }
    }

    /// The options in force.
    pub fn options(&self) -> &ValidationOptions {
        &self.opts
    }

    /// Checks the next item of a batch request.
    pub fn check(&mut self, item: &Item<RequestOp>) -> Result<(), BatchError> {
        let group = match item {
            Item::Op(_) => None,
            Item::Changeset(c) => c.id.clone(),
        };
        if self.opts.json {
            if let Some(g) = &group {
                // An empty changeset names no operation: the error names the group's place.
                let first = |kind, detail: String| {
                    let id = item.ops().first().and_then(|op| op.content_id.clone());
                    BatchError::new(kind, detail).at_op(self.ops, id)
                };
                if self.groups.contains(g) && self.last_group.as_ref() != Some(g) {
                    return Err(first(
                        K::GroupNotAdjacent,
                        format!("atomicity group {g} is split by other requests"),
                    ));
                }
                if self.ids.contains(g.as_str()) {
                    return Err(first(
                        K::IdEqualsGroup,
                        format!("atomicity group {g} is also a request id"),
                    ));
                }
            }
        }
        let mut changeset_ids: HashSet<&str> = HashSet::new();
        for op in item.ops() {
            let index = self.ops;
            self.ops += 1;
            if is_batch_url(&op.url) {
                return Err(err(
                    K::NestedBatch,
                    index,
                    op,
                    format!("{} is a batch request", op.url),
                ));
            }
            if let Some(scope) = self
                .opts
                .scope
                .as_ref()
                .filter(|_| reference(&op.url).is_none())
            {
                let target = scope
                    .resolve(&op.url)
                    .map_err(|e| err(e.kind(), index, op, e.detail()))?;
                if is_batch_url(&target) {
                    return Err(err(
                        K::NestedBatch,
                        index,
                        op,
                        format!("{} resolves to {target}, a batch request", op.url),
                    ));
                }
            }
            if self.opts.forbid_headers {
                if let Some(n) = forbidden_header(&op.headers) {
                    return Err(err(
                        K::ForbiddenHeader,
                        index,
                        op,
                        format!("header {n} is not allowed in a batch operation"),
                    ));
                }
            }
            if matches!(item, Item::Changeset(_)) {
                if op.method.eq_ignore_ascii_case("GET") {
                    return Err(err(
                        K::GetInChangeset,
                        index,
                        op,
                        "a changeset holds no GET",
                    ));
                }
                if op.content_id.is_none() && self.opts.version.requires_content_ids() {
                    return Err(err(
                        K::MissingContentId,
                        index,
                        op,
                        "every changeset operation needs a Content-ID",
                    ));
                }
            }
            if let Some(id) = op.content_id.as_deref().map(normalize_content_id) {
                let dup = match (self.opts.version, item) {
                    (
                        ODataVersion::V2_0 | ODataVersion::V3_0 | ODataVersion::V4_0,
                        Item::Changeset(_),
                    ) => !changeset_ids.insert(id),
                    (ODataVersion::V2_0 | ODataVersion::V3_0 | ODataVersion::V4_0, Item::Op(_)) => {
                        false
                    }
                    (ODataVersion::V4_01, _) => self.ids.contains(id),
                };
                if self.opts.unique_content_ids && (dup || self.opts.json && self.ids.contains(id))
                {
                    return Err(err(
                        K::DuplicateContentId,
                        index,
                        op,
                        format!("Content-ID {id} is used twice"),
                    ));
                }
                if self.opts.json && (self.groups.contains(id) || group.as_deref() == Some(id)) {
                    return Err(err(
                        K::IdEqualsGroup,
                        index,
                        op,
                        format!("id {id} is also an atomicity group"),
                    ));
                }
            } else if self.opts.json {
                return Err(err(
                    K::MissingContentId,
                    index,
                    op,
                    "every JSON batch request needs an id",
                ));
            }
            if self.opts.json {
                for d in &op.depends_on {
                    let earlier = self.ids.contains(d.as_str())
                        || self.groups.contains(d) && group.as_deref() != Some(d.as_str());
                    if !earlier {
                        return Err(err(
                            K::UnknownDependency,
                            index,
                            op,
                            format!("dependsOn {d} names no earlier request or group"),
                        ));
                    }
                }
                if let Some((id, _)) = reference(&op.url) {
                    if !op.depends_on.iter().any(|d| d == id) {
                        return Err(err(
                            K::ReferenceNotInDependsOn,
                            index,
                            op,
                            format!("${id} is not in dependsOn"),
                        ));
                    }
                }
            }
            if let Some(id) = &op.content_id {
                // A view of the op's own id: no copy.
                self.ids.insert(id.slice_of(normalize_content_id(id)));
            }
        }
        if let Some(g) = group {
            self.groups.insert(g.clone());
            self.last_group = Some(g);
        } else {
            self.last_group = None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_urls() {
        assert!(is_batch_url("$batch"));
        assert!(is_batch_url("/service/$batch?x=1"));
        assert!(!is_batch_url("/service/Customers"));
        assert!(!is_batch_url("/accounts/batchjobs"));
        assert!(is_batch_url("/service/%24batch"));
        assert!(!is_batch_url("/service/x$batch"));
    }
}
