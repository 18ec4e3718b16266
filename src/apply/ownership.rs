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

use futures::{StreamExt as _, TryStreamExt as _};
use kube::api::DynamicObject;

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

/// Whether `existing` may be created over by `owner`'s `wanted`. **Pure.**
pub fn foreign(existing: &DynamicObject, wanted: &Object, owner: &str) -> Option<Foreign> {
    let managed_by = existing.metadata.labels.as_ref().and_then(|l| l.get(LABEL_MANAGED_BY));
    if managed_by.map(String::as_str) == Some(MANAGER) {
        let theirs = crate::cluster::owner_of(existing);
        return (theirs != owner).then_some(Foreign::OtherOwner(theirs));
    }
    let users_namespace = wanted.kind() == "Namespace"
        && wanted.metadata().get("annotations").and_then(|a| a.get(ANNOTATION_RETAIN)).is_some();
    if users_namespace {
        return None;
    }
    let mut managers: Vec<String> = existing
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    managers.sort();
    managers.dedup();
    Some(Foreign::Unmanaged(managers))
}

/// Reads every object the plan creates; fails (before any write) on any that exists and is not
/// the owner's, unless `force`, which takes them over with a warning each.
pub async fn check(apis: &Apis, plan: &Plan, force: bool, printer: &Printer) -> anyhow::Result<()> {
    // The reads are built in a loop, not by stream combinators over closures: a future that
    // holds such closures is not provably `Send` (rust-lang/rust#102211), and the operator
    // runs plans on spawned tasks.
    let mut reads = Vec::new();
    for s in &plan.steps {
        let StepKind::Object { action: Action::Create, owner, .. } = &s.kind else { continue };
        let o = plan.manifests.get(&s.index).expect("creates carry objects");
        reads.push(async move {
            let api = apis.api(&super::gvk_of(o.api_version(), o.kind()), o.namespace()).await?;
            let existing = api.get_opt(o.name()).await?;
            anyhow::Ok(
                existing
                    .and_then(|e| foreign(&e, o, owner))
                    .map(|f| (super::describe(&o.object_ref()), f)),
            )
        });
    }
    let found: Vec<Option<(String, Foreign)>> =
        futures::stream::iter(reads).buffered(READS_IN_FLIGHT).try_collect().await?;
    let conflicts: Vec<(String, Foreign)> = found.into_iter().flatten().collect();
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
    Err(UserError(msg).into())
}
