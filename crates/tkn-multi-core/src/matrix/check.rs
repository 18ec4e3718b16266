//! The shared layer for a set of instances, and why it is (or is not) safe. **Pure.**
//!
//! Semantics (docs/compat-matrix.md):
//! 1. The layer's **base** version is the newest instance (or the current shared version when it
//!    is newer and no downgrade is asked for). Shared CRDs are never older than an instance:
//!    from v0.70 CRD schemas are typed and an older schema prunes newer fields, and an older
//!    conversion webhook does not know newer versions.
//! 2. Every CRD of the base release is in the layer. Each API an instance consumes must be served
//!    by the layer's CRD; a CRD the base no longer has (conditions, pipelineresources, runs,
//!    clustertasks) is taken from the newest known release whose CRD serves what the instances
//!    consume ("legacy"). If no release serves it, or the base CRD stopped serving it, there is
//!    no layer: the error names the instance, the API and the CRD.
//! 3. With the current shared version known, CRDs it has and the new layer does not are kept
//!    (deleting a CRD deletes its objects), and storage-version changes become migrations.

use std::collections::BTreeMap;

use super::model::Matrix;
use super::records::{ApiRef, Conversion, CrdRecord, RuleKind};
use crate::release::TektonVersion;

pub use super::layer::{
    CrdSource, Error, Finding, InstanceVerdict, LayerCrd, Migration, Query, SharedLayer, Verdict,
};

/// Computes the shared layer for `req`.
pub fn check(matrix: &Matrix, req: &Query) -> Result<SharedLayer, Error> {
    let mut instances = req.instances.clone();
    instances.sort();
    instances.dedup();
    let newest = instances.last().ok_or(Error::Empty)?.clone();
    for v in instances.iter().chain(&req.current_shared) {
        if matrix.release(v).is_none() {
            return Err(Error::UnknownVersion { version: v.clone(), known: known(matrix) });
        }
    }
    let base = match &req.current_shared {
        Some(cur) if *cur > newest && !req.allow_downgrade => cur.clone(),
        _ => newest,
    };
    layer_for(matrix, &instances, &base, req)
}

fn known(matrix: &Matrix) -> String {
    match (matrix.releases.keys().next(), matrix.releases.keys().next_back()) {
        (Some(a), Some(b)) => {
            format!("{} releases, {a} … {b}; see `tkn-multi matrix show`", matrix.releases.len())
        }
        _ => "none".into(),
    }
}

/// The versions among `instances` and `base` whose records were derived at run time.
fn derived(
    matrix: &Matrix,
    instances: &[TektonVersion],
    base: &TektonVersion,
) -> Vec<TektonVersion> {
    let mut out: Vec<TektonVersion> = instances
        .iter()
        .chain(std::iter::once(base))
        .filter(|v| {
            matrix
                .release(v)
                .is_some_and(|r| r.provenance == super::records::Provenance::DerivedAtRunTime)
        })
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The layer with base `base` for `instances` (sorted, known versions).
fn layer_for(
    matrix: &Matrix,
    instances: &[TektonVersion],
    base: &TektonVersion,
    req: &Query,
) -> Result<SharedLayer, Error> {
    let current = req.current_shared.as_ref();
    let base_rec = matrix.release(base).expect("checked by the caller");
    let mut problems = Vec::new();
    let mut findings = Vec::new();
    let mut crds: BTreeMap<String, LayerCrd> = base_rec
        .crds
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                LayerCrd { from: base.clone(), crd: c.clone(), source: CrdSource::Base },
            )
        })
        .collect();

    // What each instance needs: its informers plus curated `needs` rules.
    let mut needs: BTreeMap<String, Vec<(TektonVersion, ApiRef)>> = BTreeMap::new();
    for i in instances {
        let rec = matrix.release(i).expect("checked by the caller");
        let mut apis = rec.controller_consumes.clone();
        for r in
            matrix.rules.rules.iter().filter(|r| r.kind == RuleKind::Needs && r.applies(i, base))
        {
            apis.extend(r.api.clone());
        }
        for a in apis {
            needs.entry(a.crd_name()).or_default().push((i.clone(), a));
        }
        if i > base {
            problems.push(format!(
                "instance {i} is newer than the shared layer {base}: shared CRDs and the conversion webhook \
                 must be at least as new as every instance"
            ));
        }
    }

    for (crd_name, wanted) in &needs {
        if let Some(layer_crd) = crds.get(crd_name) {
            for (i, a) in wanted {
                if !layer_crd.crd.serves(&a.version) {
                    problems.push(format!(
                        "instance {i} needs {a}, which {crd_name} of {} no longer serves",
                        layer_crd.from
                    ));
                }
            }
            continue;
        }
        match legacy_crd(matrix, base, crd_name, wanted, &mut findings) {
            Some(layer_crd) => {
                crds.insert(crd_name.clone(), layer_crd);
            }
            None => {
                for (i, a) in wanted {
                    problems.push(format!(
                        "instance {i} needs {a}, which no known release's {crd_name} serves"
                    ));
                }
            }
        }
    }

    // CRDs the current layer has and the new one does not: kept.
    let mut migrations = Vec::new();
    if let Some(cur) = current {
        let cur_rec = matrix.release(cur).expect("checked by the caller");
        for c in &cur_rec.crds {
            match crds.get(&c.name) {
                None => {
                    crds.insert(
                        c.name.clone(),
                        LayerCrd { from: cur.clone(), crd: c.clone(), source: CrdSource::Kept },
                    );
                }
                Some(new) => migrations.extend(migration(c, &new.crd, base, cur, &mut problems)),
            }
        }
    }

    for i in instances {
        findings.extend(pair_findings(matrix, i, base, &crds, req));
    }
    let verdicts = instance_verdicts(instances, &findings, &problems);
    problems.extend(findings.iter().filter(|f| f.verdict == Verdict::Incompatible).map(problem));
    let verdict = if problems.is_empty() {
        verdicts.iter().map(|v| v.verdict).max().unwrap_or(Verdict::Compatible)
    } else {
        Verdict::Incompatible
    };
    let layer = SharedLayer {
        version: base.clone(),
        verdict,
        current_shared: current.cloned(),
        min_kubernetes_version: min_kubernetes(matrix, instances, base),
        crds: crds.into_values().collect(),
        derived_at_run_time: derived(matrix, instances, base),
        instances: verdicts,
        findings,
        migrations,
    };
    if problems.is_empty() {
        Ok(layer)
    } else {
        Err(Error::Incompatible { problems, layer: Box::new(layer) })
    }
}

/// The problem line of an incompatible finding; one from evidence cites it and says how to
/// accept it.
fn problem(f: &Finding) -> String {
    let cited = if f.evidence.is_empty() {
        String::new()
    } else {
        format!(
            " (evidence: {}; accept it knowingly with --accept-broken-workloads)",
            f.evidence.join(", ")
        )
    };
    format!("instance {}: {} [{}]{cited}", f.instance, f.message, f.rule)
}

/// The newest minimum Kubernetes version among the base release and the instances.
fn min_kubernetes(
    matrix: &Matrix,
    instances: &[TektonVersion],
    base: &TektonVersion,
) -> Option<String> {
    instances
        .iter()
        .chain(std::iter::once(base))
        .filter_map(|v| matrix.release(v)?.min_kubernetes_version.clone())
        .max_by_key(|k| k.trim_start_matches('v').parse::<semver::Version>().ok())
}

/// Each instance's worst finding, or incompatible when a problem names it.
fn instance_verdicts(
    instances: &[TektonVersion],
    findings: &[Finding],
    problems: &[String],
) -> Vec<InstanceVerdict> {
    instances
        .iter()
        .map(|i| {
            let worst = findings.iter().filter(|f| &f.instance == i).map(|f| f.verdict).max();
            let unservable = problems.iter().any(|p| p.starts_with(&format!("instance {i} ")));
            let verdict = if unservable {
                Verdict::Incompatible
            } else {
                worst.unwrap_or(Verdict::Compatible)
            };
            InstanceVerdict { instance: i.clone(), verdict }
        })
        .collect()
}

/// The newest release's CRD `crd_name` that serves every version `wanted`, for a CRD the base
/// release no longer has.
fn legacy_crd(
    matrix: &Matrix,
    base: &TektonVersion,
    crd_name: &str,
    wanted: &[(TektonVersion, ApiRef)],
    findings: &mut Vec<Finding>,
) -> Option<LayerCrd> {
    let (v, c) = matrix.releases.iter().rev().find_map(|(v, rec)| {
        rec.crd(crd_name)
            .filter(|c| wanted.iter().all(|(_, a)| c.serves(&a.version)))
            .map(|c| (v, c))
    })?;
    let mut needed_by: Vec<_> = wanted.iter().map(|(i, _)| i.clone()).collect();
    needed_by.dedup();
    let mut crd = c.clone();
    if crd.conversion == Conversion::Webhook && crd.served.len() == 1 && crd.unserved.is_empty() {
        // One version needs no conversion; the base webhook would not convert it anyway.
        crd.conversion = Conversion::None;
    } else if crd.conversion == Conversion::Webhook {
        for i in &needed_by {
            findings.push(Finding {
                instance: i.clone(),
                rule: "legacy-crd-conversion".into(),
                verdict: Verdict::CompatibleWithWarnings,
                message: format!(
                    "legacy {crd_name} from {v} converts by webhook, which the shared {base} webhook does \
                     not cover: only its storage version {} is safe to use",
                    crd.storage
                ),
                source: "cmd/webhook/main.go conversion map per version (docs/tekton-internals.md)".into(),
                evidence: Vec::new(),
            });
        }
    }
    Some(LayerCrd { from: v.clone(), crd, source: CrdSource::Legacy { needed_by } })
}

/// Warnings and incompatibilities of instance `i` served by `base` with layer `crds`.
fn pair_findings(
    matrix: &Matrix,
    i: &TektonVersion,
    base: &TektonVersion,
    crds: &BTreeMap<String, LayerCrd>,
    req: &Query,
) -> Vec<Finding> {
    let rec = matrix.release(i).expect("checked by the caller");
    let mut out = Vec::new();
    for r in matrix.rules.rules.iter().filter(|r| r.kind != RuleKind::Needs && r.applies(i, base)) {
        let (verdict, message) = match r.kind {
            RuleKind::Incompatible => (Verdict::Incompatible, r.message.clone()),
            RuleKind::BreaksWorkloads => breakage(r, i, base, req),
            _ => (Verdict::CompatibleWithWarnings, r.message.clone()),
        };
        out.push(Finding {
            instance: i.clone(),
            rule: r.id.clone(),
            verdict,
            message,
            source: r.source.clone(),
            evidence: r.evidence.clone(),
        });
    }
    let mut add = |rule: &str, verdict, message: String, source: &str| {
        out.push(Finding {
            instance: i.clone(),
            rule: rule.into(),
            verdict,
            message,
            source: source.into(),
            evidence: Vec::new(),
        });
    };
    let alpha: Vec<String> =
        rec.controller_consumes.iter().filter(|a| a.is_alpha()).map(ToString::to_string).collect();
    if !alpha.is_empty() {
        add(
            "alpha-api",
            Verdict::CompatibleWithWarnings,
            format!(
                "consumes alpha APIs, which may change or go without notice: {}",
                alpha.join(", ")
            ),
            "TEP-0129 compatibility matrix: alpha APIs may be broken",
        );
    }
    if !rec.capabilities.admission_name_env && !rec.capabilities.owned_admission {
        add(
            "no-admission",
            Verdict::CompatibleWithWarnings,
            "admission webhook names are hard-coded before v0.44 and compat-matrix/admission.yaml does not \
             record what this version admits: the instance runs without admission (validation and \
             defaulting still happen in its reconcilers)"
                .into(),
            "cmd/webhook/main.go; WEBHOOK_ADMISSION_CONTROLLER_NAME since v0.44.0 (PR #6007)",
        );
    }
    if i != base {
        for own in &rec.crds {
            let Some(layer) = crds.get(&own.name) else { continue };
            let lost: Vec<&str> =
                own.served.iter().filter(|v| !layer.crd.serves(v)).map(String::as_str).collect();
            if !lost.is_empty() {
                add(
                    "api-version-not-served",
                    Verdict::CompatibleWithWarnings,
                    format!(
                        "{} {} of {} is served by {i} but not by the shared {}: objects submitted at that \
                         version are refused",
                        own.name,
                        lost.join(", "),
                        own.name,
                        layer.from
                    ),
                    "CRD versions per release (compat-matrix/<version>.yaml)",
                );
            }
        }
    }
    out
}

/// The verdict of a `breaks-workloads` rule for instance `i` on `base`: refused, unless the
/// user accepts it or the pair already runs (the shared layer is `base` now and serves `i`).
fn breakage(
    r: &super::records::CuratedRule,
    i: &TektonVersion,
    base: &TektonVersion,
    req: &Query,
) -> (Verdict, String) {
    if req.accept_broken_workloads {
        (
            Verdict::CompatibleWithWarnings,
            format!("{} (accepted with --accept-broken-workloads)", r.message),
        )
    } else if req.current_shared.as_ref() == Some(base) && req.running.contains(i) {
        (
            Verdict::CompatibleWithWarnings,
            format!("{} (already so: the shared layer is {base} now)", r.message),
        )
    } else {
        (Verdict::Incompatible, r.message.clone())
    }
}

/// The migration a change of `old` (in `cur`) to `new` (in `base`) requires, if any.
fn migration(
    old: &CrdRecord,
    new: &CrdRecord,
    base: &TektonVersion,
    cur: &TektonVersion,
    problems: &mut Vec<String>,
) -> Option<Migration> {
    if old.storage == new.storage {
        return None;
    }
    let m = |before_apply, message| Migration {
        crd: old.name.clone(),
        from_storage: old.storage.clone(),
        to_storage: new.storage.clone(),
        before_apply,
        message,
    };
    if !new.defines(&old.storage) {
        if base < cur {
            problems.push(format!(
                "downgrading {} from {cur} to {base} would drop {}, the version its objects are stored as",
                old.name, old.storage
            ));
        }
        return Some(m(
            true,
            format!(
                "{} of {base} does not define {}: rewrite every object as {} and remove {} from \
                 status.storedVersions before applying it",
                old.name, old.storage, new.storage, old.storage
            ),
        ));
    }
    Some(m(
        false,
        format!(
            "storage version changes {} → {}: objects stay stored as {} until rewritten; run a storage \
             migration (read and write back every object, then set status.storedVersions to [{}]) before a \
             later release stops serving {}",
            old.storage, new.storage, old.storage, new.storage, old.storage
        ),
    ))
}
