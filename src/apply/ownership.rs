//! Before any write: objects the plan would create must not already belong to someone else.
//! **I/O** (reads only).
//!
//! The planner sees only what carries tkn-multi's labels, so a `+` step may meet an object that
//! exists already: a Tekton installed another way, another tool's object, or another instance's.
//! Server-side apply would silently merge into it (and a later uninstall would delete it), so
//! every such object is refused, all of them in one error, before the first write. With
//! `--force-conflicts` they are taken over, each named in a warning. A user's own namespace that
//! an instance watches is adopted without asking: tkn-multi only labels it and never deletes it.

use std::fmt::Write as _;

use std::collections::BTreeMap;

use futures::{StreamExt as _, TryStreamExt as _};
use kube::api::{Api, DynamicObject, ListParams, ObjectMeta};

use crate::cluster::Apis;
use crate::fault::UserError;
use crate::managed::{ANNOTATION_RETAIN, LABEL_MANAGED_BY, MANAGER};
use crate::plan::{Action, Plan, StepKind};
use crate::printer::Printer;
use crate::release::Object;

/// How many reads run at once.
const READS_IN_FLIGHT: usize = 16;

/// Why an existing object is not the plan's to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Foreign {
    /// Labelled by tkn-multi for another owner.
    OtherOwner(String),
    /// Not labelled by tkn-multi; the field managers that wrote it.
    Unmanaged(Vec<String>),
}

impl std::fmt::Display for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Foreign::OtherOwner(o) if o == crate::names::SHARED_OWNER => {
                f.write_str("belongs to tkn-multi's shared layer")
            }
            Foreign::OtherOwner(o) => write!(f, "belongs to tkn-multi instance `{o}`"),
            Foreign::Unmanaged(m) if m.is_empty() => f.write_str("is not managed by tkn-multi"),
            Foreign::Unmanaged(m) => {
                write!(f, "is not managed by tkn-multi (written by {})", m.join(", "))
            }
        }
    }
}

/// Whether an existing object (its metadata) may be created over by `owner`'s `wanted`. **Pure.**
pub fn foreign(existing: &ObjectMeta, wanted: &Object, owner: &str) -> Option<Foreign> {
    let managed_by = existing.labels.as_ref().and_then(|l| l.get(LABEL_MANAGED_BY));
    if managed_by.map(String::as_str) == Some(MANAGER) {
        let theirs = crate::cluster::owner_of_meta(existing);
        return (theirs != owner).then_some(Foreign::OtherOwner(theirs));
    }
    let users_namespace = wanted.kind() == "Namespace"
        && wanted.metadata().get("annotations").and_then(|a| a.get(ANNOTATION_RETAIN)).is_some();
    if users_namespace {
        return None;
    }
    let mut managers: Vec<String> =
        existing.managed_fields.iter().flatten().filter_map(|m| m.manager.clone()).collect();
    managers.sort();
    managers.dedup();
    Some(Foreign::Unmanaged(managers))
}

/// The objects (with their owners) a plan creates of one kind, by namespace.
type ByNamespace<'a> = BTreeMap<Option<&'a str>, Vec<(&'a Object, &'a str)>>;

/// Above this many namespaces, the objects of a kind are read by one list across all namespaces
/// instead of one list per namespace.
const NAMESPACES_PER_KIND: usize = 4;

/// One read of the ownership check.
#[derive(Debug)]
pub enum Read<'a> {
    /// A Secret, by name (the operator may not list Secrets).
    Get {
        /// The object to create.
        object: &'a Object,
        /// Its owner.
        owner: &'a str,
    },
    /// A metadata-only list of one kind, in one namespace or (`None`) across all of them.
    List {
        /// `apiVersion`.
        api_version: &'a str,
        /// `kind`.
        kind: &'a str,
        /// The namespace, or every namespace (and cluster-scoped kinds).
        namespace: Option<&'a str>,
        /// The objects to create that this list finds.
        wanted: Vec<(&'a Object, &'a str)>,
    },
}

/// The reads the ownership check of `plan` makes: one list per kind and namespace, one across all
/// namespaces for a kind created in many, a get per Secret. **Pure**; the requests grow with
/// kinds × namespaces, not with objects.
pub fn reads(plan: &Plan) -> Vec<Read<'_>> {
    let mut creates: BTreeMap<(&str, &str), ByNamespace<'_>> = BTreeMap::new();
    for s in &plan.steps {
        let StepKind::Object { action: Action::Create, owner, .. } = &s.kind else { continue };
        let o = plan.manifests.get(&s.index).expect("creates carry objects");
        creates
            .entry((o.api_version(), o.kind()))
            .or_default()
            .entry(o.namespace())
            .or_default()
            .push((o, owner.as_str()));
    }
    let mut out = Vec::new();
    for ((api_version, kind), by_ns) in creates {
        if kind == "Secret" {
            out.extend(
                by_ns.values().flatten().map(|&(object, owner)| Read::Get { object, owner }),
            );
            continue;
        }
        if by_ns.len() > NAMESPACES_PER_KIND {
            let wanted = by_ns.into_values().flatten().collect();
            out.push(Read::List { api_version, kind, namespace: None, wanted });
        } else {
            for (namespace, wanted) in by_ns {
                out.push(Read::List { api_version, kind, namespace, wanted });
            }
        }
    }
    out
}

/// Reads every object the plan creates ([`reads`]); fails (before any write) on any that exists
/// and is not the owner's, unless `force`, which takes them over with a warning each.
pub async fn check(apis: &Apis, plan: &Plan, force: bool, printer: &Printer) -> anyhow::Result<()> {
    // The reads are built in a loop, not by stream combinators over closures: a future that
    // holds such closures is not provably `Send` (rust-lang/rust#102211), and the operator
    // runs plans on spawned tasks.
    let mut futures = Vec::new();
    for read in reads(plan) {
        futures.push(async move {
            let conflicts: Vec<(String, Foreign)> = match read {
                Read::Get { object: o, owner } => {
                    let api = apis
                        .api(&super::terms::gvk_of(o.api_version(), o.kind()), o.namespace())
                        .await?;
                    api.get_metadata_opt(o.name())
                        .await?
                        .and_then(|e| foreign(&e.metadata, o, owner))
                        .map(|f| (super::terms::describe(&o.object_ref()), f))
                        .into_iter()
                        .collect()
                }
                Read::List { api_version, kind, namespace, wanted } => {
                    let api = apis.api(&super::terms::gvk_of(api_version, kind), namespace).await?;
                    let existing = list_metadata(&api).await?;
                    wanted
                        .into_iter()
                        .filter_map(|(o, owner)| {
                            let key = (o.namespace().map(str::to_owned), o.name().to_owned());
                            existing
                                .get(&key)
                                .and_then(|e| foreign(e, o, owner))
                                .map(|f| (super::terms::describe(&o.object_ref()), f))
                        })
                        .collect()
                }
            };
            anyhow::Ok(conflicts)
        });
    }
    let reads = futures;
    let found: Vec<Vec<(String, Foreign)>> =
        futures::stream::iter(reads).buffered(READS_IN_FLIGHT).try_collect().await?;
    let mut found: Vec<(String, Foreign)> = found.into_iter().flatten().collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let conflicts = found;
    if conflicts.is_empty() {
        return Ok(());
    }
    if force {
        for (what, why) in &conflicts {
            printer.warn(&format!("taking over `{what}`, which {why} (`--force-conflicts`)"));
        }
        return Ok(());
    }
    let mut msg = format!(
        "{} object(s) the plan would create already exist and are not this plan's to change; nothing was written:",
        conflicts.len()
    );
    for (what, why) in &conflicts {
        let _ = write!(msg, "\n  `{what}` {why}");
    }
    msg.push_str("\nremove them, or re-run with `--force-conflicts` to take them over");
    Err(UserError::msg(msg).into())
}

/// The metadata of every object `api` lists, by (namespace, name), page by page.
async fn list_metadata(
    api: &Api<DynamicObject>,
) -> anyhow::Result<BTreeMap<(Option<String>, String), ObjectMeta>> {
    let items =
        crate::cluster::list_all(
            &ListParams::default(),
            |p| async move { api.list_metadata(&p).await },
        )
        .await?;
    Ok(items
        .into_iter()
        .map(|o| {
            (
                (o.metadata.namespace.clone(), o.metadata.name.clone().unwrap_or_default()),
                o.metadata,
            )
        })
        .collect())
}
