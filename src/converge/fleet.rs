//! The driver over several clusters (`apply -f` of a fleet with `clusters:`): every cluster is
//! locked, observed and planned at once, the plans are shown together and consented to once,
//! then every cluster executes at once, each under its own lock. **I/O** only through the
//! [`Cluster`]s it is given, as [`super::driver::run`].
//!
//! A cluster that fails (unreachable, a step that fails) does not stop or hide the others. A
//! refusal of the request itself on any cluster (a conflict, an incompatible version set: a
//! [`crate::fault::UserError`] in its chain) executes nothing anywhere: the fleet file is wrong
//! as a whole.

use futures::future::join_all;

use super::driver::{
    Cluster, Mode, Outcome, Prepared, ReleaseSource, Request, Ui, carry_out, consent,
};
use crate::matrix::Matrix;
use crate::plan::{Desired, Plan, StepKind};
use crate::printer::Printer;

/// One cluster of the run.
pub struct Handle<C> {
    /// Its name in the fleet.
    pub name: String,
    /// The handle.
    pub cluster: C,
    /// What it should hold.
    pub desired: Desired,
    /// Its rollout stage, when the fleet has `stages:`.
    pub stage: Option<crate::fleet::Stage>,
}

/// What happened on one cluster.
#[derive(Debug)]
pub enum ClusterResult {
    /// Planned only (`--dry-run`).
    Planned(Outcome),
    /// Applied (or sent with the API's dry run).
    Applied(Outcome),
    /// Planned, and not applied because another cluster's request was refused.
    NotApplied(Outcome),
    /// Planned, and not applied because an earlier stage (named) did not converge.
    Held(Outcome, String),
    /// Failed: before its plan, or while executing it.
    Failed(anyhow::Error),
}

/// One cluster's plan, or why it has none, as shown.
pub struct Shown<'a> {
    /// The cluster.
    pub cluster: &'a str,
    /// Its plan, or the error.
    pub plan: std::result::Result<&'a Plan, &'a anyhow::Error>,
    /// Its rollout stage.
    pub stage: Option<&'a crate::fleet::Stage>,
}

/// How the fleet driver talks to the person running it.
pub trait FleetUi: Ui {
    /// Shows every cluster's plan (or error), in the fleet's order.
    fn show_all(&self, plans: &[Shown<'_>]) -> anyhow::Result<()>;
}

/// Converges every member to its desired state; see the module doc.
///
/// # Errors
/// Only what stops the whole run: the terminal, a consent refused. Each cluster's own failure
/// is in its [`ClusterResult`].
pub async fn run_all<C, R, U>(
    members: &mut [Handle<C>],
    releases: &R,
    matrix: &Matrix,
    request: &Request,
    ui: &U,
    printer: &Printer,
) -> anyhow::Result<Vec<(String, ClusterResult)>>
where
    C: Cluster,
    R: ReleaseSource,
    U: FleetUi,
{
    let writes = request.mode != Mode::Plan;
    if writes && members.iter().any(|m| !m.cluster.writable()) {
        return Err(super::driver::review_only());
    }
    let prepared: Vec<anyhow::Result<Prepared>> = join_all(members.iter_mut().map(|m| {
        let printer = printer.for_cluster(&m.name);
        async move {
            if writes {
                let start = std::time::Instant::now();
                m.cluster.lock().await?;
                printer.timing(&crate::timings::Timing::phase("lock", start.elapsed()));
            }
            let desired = m.desired.clone();
            super::driver::prepare(&m.cluster, releases, matrix, request, |_| Ok(desired), &printer)
                .await
        }
    }))
    .await;
    let shown: Vec<Shown<'_>> = members
        .iter()
        .zip(&prepared)
        .map(|(m, p)| Shown {
            cluster: &m.name,
            plan: p.as_ref().map(|p| &p.plan),
            stage: m.stage.as_ref(),
        })
        .collect();
    let shown_ok = ui.show_all(&shown);
    let stop = prepared.iter().any(|p| p.as_ref().err().is_some_and(crate::fault::is_user));
    let destructive: usize =
        prepared.iter().flatten().map(|p| p.plan.summary.delete + p.plan.summary.replace).sum();
    let go = shown_ok
        .and_then(|()| if writes && !stop { consent(destructive, request, ui) } else { Ok(()) });
    if let Err(e) = go {
        unlock_all(members, printer).await;
        return Err(e);
    }
    let results =
        execute_stages(members, prepared, releases, matrix, request, (writes, stop), printer).await;
    Ok(members.iter().map(|m| m.name.clone()).zip(results).collect())
}

/// Executes the prepared plans stage by stage (one stage when the fleet has none): the
/// clusters of a stage at once; a stage starts only once every cluster of the one before
/// converged (its waits passed) and its gate held.
async fn execute_stages<C: Cluster, R: ReleaseSource>(
    members: &mut [Handle<C>],
    prepared: Vec<anyhow::Result<Prepared>>,
    releases: &R,
    matrix: &Matrix,
    request: &Request,
    (writes, stop): (bool, bool),
    printer: &Printer,
) -> Vec<ClusterResult> {
    let mut slots: Vec<Option<anyhow::Result<Prepared>>> = prepared.into_iter().map(Some).collect();
    let mut results: Vec<Option<ClusterResult>> = members.iter().map(|_| None).collect();
    let mut order: Vec<usize> =
        members.iter().map(|m| m.stage.as_ref().map_or(0, |s| s.index)).collect();
    order.sort_unstable();
    order.dedup();
    let mut failed_stage: Option<String> = None;
    for stage in order {
        let here: Vec<usize> = (0..members.len())
            .filter(|&i| members[i].stage.as_ref().map_or(0, |s| s.index) == stage)
            .collect();
        let name =
            here.first().and_then(|&i| members[i].stage.as_ref()).map(|s| s.name.to_string());
        let done: Vec<(usize, ClusterResult)> = join_all(
            members.iter_mut().enumerate().filter(|(i, _)| here.contains(i)).map(|(i, m)| {
                let p = slots[i].take().expect("each cluster runs once");
                let held = failed_stage.clone();
                let printer = printer.for_cluster(&m.name);
                async move {
                    let result = match p {
                        Err(e) => ClusterResult::Failed(e),
                        Ok(p) if !writes => ClusterResult::Planned(p.outcome()),
                        Ok(p) if stop => ClusterResult::NotApplied(p.outcome()),
                        Ok(p) if held.is_some() => {
                            ClusterResult::Held(p.outcome(), held.unwrap_or_default())
                        }
                        Ok(mut p) => {
                            match carry_out(&m.cluster, &mut p, releases, matrix, request, &printer)
                                .await
                            {
                                Ok(()) => ClusterResult::Applied(p.outcome()),
                                Err(e) => ClusterResult::Failed(e),
                            }
                        }
                    };
                    let result = match (writes, m.cluster.unlock().await, result) {
                        (true, Err(e), ClusterResult::Applied(_)) => ClusterResult::Failed(
                            e.context("applied, then the cluster lock could not be released"),
                        ),
                        (_, _, r) => r,
                    };
                    (i, result)
                }
            }),
        )
        .await;
        let stage_failed = writes
            && failed_stage.is_none()
            && done.iter().any(|(_, r)| matches!(r, ClusterResult::Failed(_)));
        for (i, r) in done {
            results[i] = Some(r);
        }
        let last = here.iter().all(|&i| {
            members.iter().all(|m| {
                m.stage.as_ref().map_or(0, |s| s.index)
                    <= members[i].stage.as_ref().map_or(0, |s| s.index)
            })
        });
        // A later stage with changes is what this stage's gate guards: then every instance of
        // this stage is checked, changed or not (a re-run after a failed gate checks again).
        let guards = slots.iter().flatten().any(|p| p.as_ref().is_ok_and(|p| p.plan.has_changes()));
        let gate_failed = if writes && !stop && !stage_failed && failed_stage.is_none() {
            gate(members, &here, &mut results, (request, last, guards), printer).await
        } else {
            false
        };
        if stage_failed || gate_failed {
            failed_stage = Some(name.unwrap_or_else(|| "the fleet".to_owned()));
        }
    }
    results.into_iter().map(|r| r.expect("every cluster ran")).collect()
}

/// A converged stage's gate: a smoke `TaskRun` in every instance the stage changed, or in every
/// instance of the stage when it `guards` later changes (a failed one fails its cluster), then
/// the soak time (unless no stage follows). Whether it failed.
async fn gate<C: Cluster>(
    members: &[Handle<C>],
    here: &[usize],
    results: &mut [Option<ClusterResult>],
    (request, last, guards): (&Request, bool, bool),
    printer: &Printer,
) -> bool {
    let Some(stage) = here.first().and_then(|&i| members[i].stage.as_ref()) else { return false };
    let mut failed = false;
    if stage.gate.smoke {
        for &i in here {
            let m = &members[i];
            let Some(ClusterResult::Applied(outcome)) = &results[i] else { continue };
            let plan = &outcome.plan;
            let changed = |name: &str| {
                guards
                    || plan
                        .steps
                        .iter()
                        .any(|s| matches!(&s.kind, StepKind::Object { owner, .. } if owner == name))
            };
            let printer = printer.for_cluster(&m.name);
            for instance in plan.target.instances.iter().filter(|i| changed(&i.name)) {
                if let Err(e) = m.cluster.smoke(instance, request.apply.timeout, &printer).await {
                    let e = e.context(format!("the gate of stage `{}`", stage.name));
                    results[i] = Some(ClusterResult::Failed(e));
                    failed = true;
                    break;
                }
            }
        }
    }
    if !failed && !last && stage.gate.soak_seconds > 0 {
        printer.info(&format!(
            "stage `{}` converged; soaking {} s before the next stage",
            stage.name, stage.gate.soak_seconds
        ));
        tokio::time::sleep(std::time::Duration::from_secs(stage.gate.soak_seconds)).await;
    }
    failed
}

async fn unlock_all<C: Cluster>(members: &mut [Handle<C>], printer: &Printer) {
    for m in members.iter_mut() {
        if let Err(e) = m.cluster.unlock().await {
            printer.for_cluster(&m.name).warn(&format!("cannot release the cluster lock: {e:#}"));
        }
    }
}
