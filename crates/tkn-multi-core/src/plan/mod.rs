//! Planning: desired × observed → a DAG of steps, linearised deterministically. **Pure.**
//!
//! Pipeline position: `split` + `matrix` → **`plan`** → `render` (dry run) / `apply`.
//!
//! `plan(&Desired, &ClusterState, &Releases, &Matrix) -> Result<Plan, Error>`:
//! 1. validate the fleet (unique names, no namespace claimed twice);
//! 2. choose the shared layer with the matrix and the shared policy (incompatible requests fail
//!    here, before any step exists);
//! 3. render the desired objects of the shared layer and of every instance in scope;
//! 4. diff them against the observed objects: create, update, replace (an immutable field
//!    changed), delete (observed, owned by an owner in scope, no longer desired); shared CRDs
//!    are never deleted while an instance or a Tekton object remains;
//! 5. add waits and stored-version migrations, connect everything by the ordering rules of
//!    [`graph`], and linearise.
//!
//! Ordering rules: [`order::Order`] (each edge in the graph names one; docs/architecture.md
//! lists them, generated from the enum).

pub mod desired;
pub mod error;
pub mod fake;
pub mod graph;
pub mod model;
pub mod objects;
pub mod order;
pub mod overrides;
pub mod shared;
pub mod state;

pub use desired::{
    CertificateWork, Desired, DesiredInstance, RESERVED_NAMESPACES, SharedMode, SharedPolicy,
    UpdateShared, check_desired, check_observation,
};
pub use error::Error;
pub use model::{
    Action, Dependency, ObjectsByRef, PLAN_FORMAT_VERSION, Plan, Releases, Step, StepKind, Summary,
    TargetShared, TargetState,
};
pub use objects::hashes;

use std::collections::BTreeSet;

use crate::matrix::Matrix;
use crate::matrix::check;
use crate::matrix::check::SharedLayer;
use crate::names::SHARED_OWNER;
use crate::release::TektonVersion;
use objects::desired_objects;
use shared::{choose_shared, shared_cluster_tasks, shared_only_config};
use state::ClusterState;

/// Plans `desired` against `observed`.
pub fn plan(
    desired: &Desired,
    observed: &ClusterState,
    releases: &Releases,
    matrix: &Matrix,
) -> Result<Plan, Error> {
    let Wanted {
        shared_layer,
        notes,
        shared_kept,
        remaining,
        keep_shared,
        objects: wanted,
        target,
    } = wanted(desired, observed, releases, matrix)?;
    let in_scope = |owner: &str| match &desired.scope {
        _ if owner == SHARED_OWNER && keep_shared => false,
        None => true,
        Some(s) if owner == SHARED_OWNER => {
            desired.policy.mode == SharedMode::Install
                && (s.contains(owner) || shared_layer.is_some())
        }
        Some(s) => s.contains(owner),
    };
    let crds_protected =
        !target.instances.is_empty() || desired.policy.keep_on_uninstall || !remaining.is_empty();
    let mut g = graph::build(
        &wanted,
        observed,
        &in_scope,
        crds_protected,
        shared_layer.as_ref(),
        observed.shared.as_ref(),
    );
    graph::add_certificates(&mut g, desired, &in_scope);
    let mut plan = graph::linearise(&g, shared_layer, target);
    plan.notes = notes;
    plan.shared_kept = shared_kept;
    Ok(plan)
}

/// What a plan is made from: the desired objects of every owner, the shared layer chosen, and
/// what keeps the shared layer when no instance needs it.
#[derive(Debug)]
pub struct Wanted {
    /// The shared layer the instances need, if any.
    pub shared_layer: Option<SharedLayer>,
    /// The planner's notes.
    pub notes: Vec<String>,
    /// The note that says why the installed shared layer stays, when it does.
    pub shared_kept: Option<String>,
    /// Tekton objects that remain (`<count> <crd>`), which keep the shared CRDs.
    pub remaining: Vec<String>,
    /// The installed shared layer stays although no instance needs it.
    pub keep_shared: bool,
    /// Every desired object, with its owner.
    pub objects: ObjectsByRef,
    /// The state after the plan.
    pub target: TargetState,
}

/// The desired objects of `desired` against `observed` (what [`plan`] diffs), with the shared
/// layer the matrix chose.
///
/// # Errors
/// As [`plan`].
pub fn wanted(
    desired: &Desired,
    observed: &ClusterState,
    releases: &Releases,
    matrix: &Matrix,
) -> Result<Wanted, Error> {
    desired::validate(desired, observed)?;
    let mut notes = Vec::new();
    if let Some(v) = unrecorded(desired, observed, matrix).find(|v| !releases.contains_key(*v)) {
        return Err(Error::MissingRelease(v.clone()));
    }
    let matrix = matrix.completed(releases.values());
    let shared_layer = choose_shared(desired, observed, &matrix, &mut notes)?;
    notes.extend(desired.instances.iter().filter_map(shared_only_config));
    notes.extend(shared_cluster_tasks(desired, observed));
    // Tekton objects outlive the last instance: their CRDs, and the conversion webhook that
    // reads them, stay until they are gone.
    let remaining: Vec<String> = observed
        .shared
        .iter()
        .flat_map(|s| &s.crds)
        .filter(|c| c.objects > 0)
        .map(|c| format!("{} {}", c.objects, c.name))
        .collect();
    let shared_kept = (shared_layer.is_none()
        && !remaining.is_empty()
        && !desired.policy.keep_on_uninstall)
        .then(|| {
            format!(
                "the shared layer stays: Tekton objects remain ({}); it is removed once they are gone",
                remaining.join(", ")
            )
        });
    notes.extend(shared_kept.clone());
    // No instance needs a layer, yet the installed one stays.
    let keep_shared =
        shared_layer.is_none() && (desired.policy.keep_on_uninstall || !remaining.is_empty());
    let (wanted, target) = desired_objects(
        desired,
        observed,
        releases,
        shared_layer.as_ref(),
        keep_shared,
        &matrix.defaults,
    )?;
    notes.extend(kept_notes(desired, observed, &target));
    Ok(Wanted { shared_layer, notes, shared_kept, remaining, keep_shared, objects: wanted, target })
}

/// The releases that planning `desired` against `observed` reads, given those already in
/// `releases`: every desired instance's, the shared layer's, and those its legacy CRDs come from.
/// The shared layer is chosen from the matrix, and a version this build ships no record of is
/// judged by its own release file; while such a file is not in `releases` the answer is those
/// versions only (the choice needs them), so a caller loads what it is told and asks again until
/// nothing is missing — then [`plan`] runs once.
///
/// # Errors
/// As [`plan`]: a desired state that is not valid, or no shared layer that serves every instance.
pub fn required_releases(
    desired: &Desired,
    observed: &ClusterState,
    releases: &Releases,
    matrix: &Matrix,
) -> Result<BTreeSet<TektonVersion>, Error> {
    desired::validate(desired, observed)?;
    let unrecorded: BTreeSet<TektonVersion> = unrecorded(desired, observed, matrix)
        .filter(|v| !releases.contains_key(*v))
        .cloned()
        .collect();
    if !unrecorded.is_empty() {
        return Ok(unrecorded);
    }
    let matrix = matrix.completed(releases.values());
    let mut need: BTreeSet<TektonVersion> =
        desired.instances.iter().map(|i| i.version.clone()).collect();
    // `--keep-defaults` across a version change reads the old release's feature flags too.
    for i in desired.instances.iter().filter(|i| i.keep_defaults) {
        if let Some(b) = observed.instance(i.spec.name.as_str()).filter(|b| b.version != i.version)
        {
            need.insert(b.version.clone());
        }
    }
    if let Some(layer) = choose_shared(desired, observed, &matrix, &mut Vec::new())? {
        need.extend(
            layer
                .crds
                .iter()
                .filter(|c| matches!(c.source, check::CrdSource::Legacy { .. }))
                .map(|c| c.from.clone()),
        );
        need.insert(layer.version);
    }
    Ok(need)
}

/// A note per instance that keeps feature flags a version change would move (`--keep-defaults`).
fn kept_notes(desired: &Desired, observed: &ClusterState, target: &TargetState) -> Vec<String> {
    let mut out = Vec::new();
    for i in desired.instances.iter().filter(|i| i.keep_defaults) {
        let name = i.spec.name.as_str();
        let before = observed.instance(name);
        let Some(after) = target.instances.iter().find(|t| t.name == name) else { continue };
        let added: Vec<String> = after
            .kept_defaults
            .iter()
            .filter(|(k, _)| before.is_none_or(|b| !b.kept_defaults.contains_key(*k)))
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        if !added.is_empty() {
            out.push(format!(
                "{name} keeps feature flags at their values before {} (--keep-defaults): {}; `tkn-multi matrix diff` shows what {} changes",
                i.version,
                added.join(", "),
                i.version
            ));
        }
    }
    out
}

/// The versions judged (the desired instances', and the installed shared layer's while any
/// instance is desired) that this build ships no record of and that are newer than the oldest it
/// ships: their records are derived from their own release files, as `matrix generate` would,
/// and marked so in the layer. Older than every shipped release is below the supported floor,
/// which the matrix refuses.
fn unrecorded<'a>(
    desired: &'a Desired,
    observed: &'a ClusterState,
    matrix: &'a Matrix,
) -> impl Iterator<Item = &'a TektonVersion> {
    let current = observed.shared.iter().map(|s| &s.version);
    let judged = desired.instances.iter().map(|i| &i.version).chain(current);
    let floor = matrix.releases.keys().next();
    judged
        .take_while(|_| !desired.instances.is_empty())
        .filter(move |v| matrix.release(v).is_none() && floor.is_some_and(|f| *v > f))
}
