//! The shared layer: which version serves the instances (the matrix and the shared policy), and
//! the notes about what the shared layer does for every instance. **Pure.**

use super::desired::{Desired, DesiredInstance, SharedMode, UpdateShared};
use super::error::Error;
use super::state::ClusterState;
use crate::matrix::Matrix;
use crate::matrix::check::{self, Query, SharedLayer};
use crate::release::TektonVersion;

/// `ClusterTasks` are cluster-scoped, so every instance that reads them (before v1.0) reads the
/// same objects, and the API server ignores namespace selectors for them: the webhooks whose
/// rules knative writes (from v0.44) admit every `ClusterTask` in the cluster; tkn-multi writes
/// the rules of older ones without cluster-scoped kinds, so they admit none. Said once two or
/// more instances read `ClusterTasks` and this plan adds one (docs/compat-matrix.md,
/// "`ClusterTasks`").
pub(crate) fn shared_cluster_tasks(desired: &Desired, observed: &ClusterState) -> Option<String> {
    let readers: Vec<&DesiredInstance> =
        desired.instances.iter().filter(|i| !i.version.at_least(1, 0, 0)).collect();
    let joins = |i: &&DesiredInstance| {
        !observed
            .instances
            .iter()
            .any(|o| o.name == i.spec.name.as_str() && !o.version.at_least(1, 0, 0))
    };
    if readers.len() < 2 || !readers.iter().any(joins) {
        return None;
    }
    let names = |is: &[&DesiredInstance]| {
        is.iter().map(|i| format!("{} ({})", i.spec.name, i.version)).collect::<Vec<_>>().join(", ")
    };
    let admitting: Vec<&DesiredInstance> =
        readers.iter().copied().filter(|i| i.version.at_least(0, 44, 0)).collect();
    let admission = if admitting.is_empty() {
        "no instance webhook admits them (tkn-multi leaves cluster-scoped kinds out of the rules \
         it writes before v0.44)"
            .to_owned()
    } else {
        let older = readers.len() > admitting.len();
        format!(
            "every ClusterTask is admitted by the webhooks of {} (knative writes their rules and \
             namespace selectors do not apply to cluster-scoped objects){}",
            names(&admitting),
            if older { ", none by an older instance's webhook" } else { "" }
        )
    };
    Some(format!(
        "ClusterTasks are cluster-scoped: {} share one set of ClusterTask names (a second \
         `kubectl create` of the same name is refused; a `taskRef` of kind ClusterTask reads the \
         same object in every instance); {admission}",
        names(&readers)
    ))
}

/// From v1.12 an instance's controller sends no `CloudEvents`: the events controller, which runs
/// once in the shared layer, sends them for every run in the cluster from the shared
/// `config-events` and `feature-flags`. An instance's own settings of them change nothing.
pub(crate) fn shared_only_config(i: &DesiredInstance) -> Option<String> {
    if !i.version.at_least(1, 12, 0) {
        return None;
    }
    let mut keys = Vec::new();
    if i.config.contains_key("config-events") {
        keys.push("`config-events`".to_owned());
    }
    if i.config.get("feature-flags").is_some_and(|f| f.contains_key("send-cloudevents-for-runs")) {
        keys.push("`feature-flags: send-cloudevents-for-runs`".to_owned());
    }
    (!keys.is_empty()).then(|| {
        format!(
            "instance `{}` ({}): {} has no effect: from v1.12 the shared events controller sends \
             every run's CloudEvents, from the shared layer's ConfigMaps",
            i.spec.name,
            i.version,
            keys.join(" and ")
        )
    })
}

/// The shared layer that serves the desired instances, by the matrix and the shared policy.
pub(crate) fn choose_shared(
    desired: &Desired,
    observed: &ClusterState,
    matrix: &Matrix,
    notes: &mut Vec<String>,
) -> Result<Option<SharedLayer>, Error> {
    let current = observed.shared.as_ref().map(|s| s.version.clone());
    let versions: Vec<TektonVersion> =
        desired.instances.iter().map(|i| i.version.clone()).collect();
    if versions.is_empty() {
        return Ok(None);
    }
    let policy = &desired.policy;
    let lock = match (policy.mode, policy.update) {
        (SharedMode::Skip, _) => Some("--shared=skip"),
        (SharedMode::Install, UpdateShared::Never) if current.is_some() => {
            Some("--update-shared=never")
        }
        _ => None,
    };
    if policy.mode == SharedMode::Skip && current.is_none() {
        return Err(Error::NoShared);
    }
    let req = Query {
        instances: versions,
        current_shared: current.clone(),
        allow_downgrade: policy.downgrade || policy.update == UpdateShared::Always,
        running: if current.is_some() {
            observed.instances.iter().map(|i| i.version.clone()).collect()
        } else {
            Vec::new()
        },
        accept_broken_workloads: policy.accept_broken_workloads,
    };
    let layer = match check::check(matrix, &req) {
        // A downgrade is only made when safe: otherwise the installed layer stays, and says why.
        Err(check::Error::Incompatible { problems, .. })
            if req.allow_downgrade
                && current.as_ref().is_some_and(|c| Some(c) > req.instances.iter().max()) =>
        {
            let kept = Query { allow_downgrade: false, ..req.clone() };
            let layer = check::check(matrix, &kept).map_err(Error::Incompatible)?;
            notes.push(format!(
                "the shared layer stays at {}: lowering it is not safe ({})",
                layer.version,
                problems.join("; ")
            ));
            layer
        }
        other => other.map_err(Error::Incompatible)?,
    };
    if let (Some(policy_name), Some(cur)) = (lock, &current)
        && &layer.version != cur
    {
        // The installed layer must serve as it is.
        let pinned = Query { allow_downgrade: false, ..req };
        let served = check::check(matrix, &pinned).map_err(Error::Incompatible)?;
        if &served.version != cur {
            return Err(Error::SharedLocked {
                current: cur.clone(),
                needed: layer.version,
                policy: policy_name,
            });
        }
        return Ok(Some(served));
    }
    Ok(Some(layer))
}
