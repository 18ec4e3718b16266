//! The desired objects of every owner: the shared part and each instance's rewritten part of its
//! release, with config overrides and the aggregated roles legacy kinds need; and their hashes.
//! **Pure.**

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::desired::{Desired, SharedMode};
use super::error::Error;
use super::model::{ObjectsByRef, Releases, TargetShared, TargetState};
use super::overrides;
use super::state::ClusterState;
use super::state::ObservedInstance;
use crate::matrix::check::{self, SharedLayer};
use crate::matrix::defaults::FEATURE_FLAGS;
use crate::names::SHARED_OWNER;
use crate::release::{Object, Release, TektonVersion};
use crate::split;

/// The hash of an object's content, and of its immutable fields.
pub fn hashes(o: &Object) -> (String, String) {
    let h = |v: &Value| {
        hex::encode(Sha256::digest(serde_json::to_vec(v).expect("JSON values serialise")))
    };
    let immutable: Vec<Value> =
        ["/spec/selector", "/roleRef", "/spec/scope", "/spec/names/kind", "/spec/group"]
            .iter()
            .filter_map(|p| o.pointer(p).cloned())
            .collect();
    (h(&o.to_value()), h(&Value::Array(immutable)))
}

pub(crate) fn release<'a>(releases: &'a Releases, v: &TektonVersion) -> Result<&'a Release, Error> {
    releases.get(v).ok_or_else(|| Error::MissingRelease(v.clone()))
}

pub(crate) fn desired_objects(
    desired: &Desired,
    observed: &ClusterState,
    releases: &Releases,
    layer: Option<&SharedLayer>,
    keep_shared: bool,
    defaults: &crate::matrix::defaults::Defaults,
) -> Result<(ObjectsByRef, TargetState), Error> {
    let mut wanted: ObjectsByRef = BTreeMap::new();
    let mut add = |owner: &str, o: Object| {
        wanted.insert(o.object_ref(), (owner.to_owned(), o));
    };
    let mut target_shared = None;
    if let Some(layer) = layer {
        let base = release(releases, &layer.version)?;
        let relocation = overrides::Overrides::registry(desired.image_registry.clone());
        for mut o in split::shared_part(base, &desired.shared) {
            relocation.apply(&mut o);
            add(SHARED_OWNER, o);
        }
        // Legacy CRDs come from the release that last shipped them, as single-version CRDs.
        for c in layer.crds.iter().filter(|c| matches!(c.source, check::CrdSource::Legacy { .. })) {
            let r = release(releases, &c.from)?;
            let mut crd = split::shared_part(r, &desired.shared)
                .into_iter()
                .find(|o| o.kind() == "CustomResourceDefinition" && o.name() == c.crd.name)
                .ok_or_else(|| Error::MissingRelease(c.from.clone()))?;
            if c.crd.conversion == crate::matrix::Conversion::None {
                // Explicitly `None`, not absent: the CRD may be converting by webhook today.
                crd.as_map_mut().get_mut("spec").and_then(Value::as_object_mut).map(|s| {
                    s.insert("conversion".into(), serde_json::json!({"strategy": "None"}))
                });
            }
            add(SHARED_OWNER, crd);
        }
        target_shared = Some(TargetShared {
            version: layer.version.clone(),
            namespace: desired.shared.namespace.to_string(),
            crds: layer.crds.iter().map(|c| (c.crd.name.clone(), c.crd.storage.clone())).collect(),
        });
    } else if keep_shared || desired.policy.mode == SharedMode::Skip {
        target_shared = observed.shared.as_ref().map(|s| TargetShared {
            version: s.version.clone(),
            namespace: s.namespace.clone(),
            crds: s
                .crds
                .iter()
                .map(|c| (c.name.clone(), c.stored_versions.last().cloned().unwrap_or_default()))
                .collect(),
        });
    }
    let mut instances = Vec::new();
    for i in &desired.instances {
        let r = release(releases, &i.version)?;
        let objects = split::instance_part(r, &i.spec, &desired.shared).map_err(|_| {
            Error::NamespaceConflict {
                namespace: desired.shared.namespace.to_string(),
                first: SHARED_OWNER.into(),
                second: i.spec.name.to_string(),
            }
        })?;
        check_overrides(i, &objects)?;
        let kept = kept_defaults(i, observed, releases, defaults)?;
        for mut o in objects {
            if o.kind() == "ConfigMap" && o.name() == FEATURE_FLAGS && !kept.is_empty() {
                keep(&mut o, &kept);
            }
            apply_config(&mut o, &i.config);
            i.overrides.apply(&mut o);
            add(i.spec.name.as_str(), o);
        }
        instances.push(ObservedInstance {
            name: i.spec.name.to_string(),
            version: i.version.clone(),
            namespace: i.spec.namespace.to_string(),
            control_plane_namespace: i.spec.control_plane_namespace.to_string(),
            admission: None,
            kept_defaults: kept,
        });
    }
    instances.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(layer) = layer {
        let legacy: Vec<&str> = layer
            .crds
            .iter()
            .filter(|c| {
                matches!(c.source, check::CrdSource::Legacy { .. }) && c.crd.group == "tekton.dev"
            })
            .map(|c| c.crd.plural.as_str())
            .collect();
        extend_aggregate_roles(&mut wanted, &legacy);
    }
    Ok((wanted, TargetState { shared: target_shared, instances }))
}

/// Lets the built-in `edit`/`view` roles reach the legacy CRDs older instances still use: their
/// users create `PipelineResources` or `Runs` under a shared layer whose own aggregated roles no
/// longer list them.
pub(crate) fn extend_aggregate_roles(wanted: &mut ObjectsByRef, legacy_plurals: &[&str]) {
    if legacy_plurals.is_empty() {
        return;
    }
    for (r, (_, o)) in wanted.iter_mut() {
        if r.kind != "ClusterRole" || !r.name.starts_with("tekton-aggregate-") {
            continue;
        }
        let Some(Value::Array(rules)) = o.pointer_mut("/rules") else { continue };
        let Some(Value::Array(resources)) = rules
            .iter_mut()
            .find(|rule| {
                rule["apiGroups"].as_array().is_some_and(|g| g.iter().any(|g| g == "tekton.dev"))
            })
            .and_then(|rule| rule.get_mut("resources"))
        else {
            continue;
        };
        for p in legacy_plurals {
            if !resources.iter().any(|x| x == p) {
                resources.push(Value::String((*p).to_owned()));
            }
        }
    }
}

/// Overrides `ConfigMap` keys of an instance (`feature-flags`, `config-defaults`, …).
/// An override naming a Deployment or `ConfigMap` the instance's release does not have is
/// refused, with those it has.
fn check_overrides(i: &super::desired::DesiredInstance, objects: &[Object]) -> Result<(), Error> {
    let deployments: Vec<&str> =
        objects.iter().filter(|o| o.kind() == "Deployment").map(Object::name).collect();
    if let Some(unknown) =
        i.overrides.deployments.keys().find(|d| !deployments.contains(&d.as_str()))
    {
        return Err(Error::UnknownDeployment {
            instance: i.spec.name.to_string(),
            deployment: unknown.clone(),
            version: i.version.clone(),
            known: deployments.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", "),
        });
    }
    let configmaps: Vec<&str> =
        objects.iter().filter(|o| o.kind() == "ConfigMap").map(Object::name).collect();
    if let Some(unknown) = i.config.keys().find(|c| !configmaps.contains(&c.as_str())) {
        return Err(Error::UnknownConfigMap {
            instance: i.spec.name.to_string(),
            configmap: unknown.clone(),
            version: i.version.clone(),
            known: configmaps.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", "),
        });
    }
    Ok(())
}

/// The feature flags `i` keeps: with `keep_defaults`, those the observed instance keeps, and on a
/// version change every flag whose effective value the new version changes, at its old value;
/// else its own `kept_defaults`. A key the user's `config` sets is the user's, never kept.
pub(crate) fn kept_defaults(
    i: &super::desired::DesiredInstance,
    observed: &ClusterState,
    releases: &Releases,
    defaults: &crate::matrix::defaults::Defaults,
) -> Result<BTreeMap<String, String>, Error> {
    let before = observed.instance(i.spec.name.as_str());
    let mut kept = if i.keep_defaults {
        before.map(|b| b.kept_defaults.clone()).unwrap_or_default()
    } else {
        i.kept_defaults.clone()
    };
    if i.keep_defaults
        && let Some(b) = before.filter(|b| b.version != i.version)
    {
        let (from, to) = (release(releases, &b.version)?, release(releases, &i.version)?);
        for (key, old, _) in crate::matrix::diff::changed_feature_flags(from, to, defaults) {
            if let Some(old) = old {
                kept.entry(key).or_insert(old);
            }
        }
    }
    let users = i.config.get(FEATURE_FLAGS);
    kept.retain(|k, _| users.is_none_or(|u| !u.contains_key(k)));
    Ok(kept)
}

/// Writes the kept flags into the `feature-flags` `ConfigMap`, and records them on it.
fn keep(o: &mut Object, kept: &BTreeMap<String, String>) {
    apply_config(o, &BTreeMap::from([(FEATURE_FLAGS.to_owned(), kept.clone())]));
    let record = serde_json::to_string(kept).expect("strings serialise");
    o.set_annotation(crate::managed::ANNOTATION_KEPT_DEFAULTS, &record);
}

pub(crate) fn apply_config(o: &mut Object, config: &BTreeMap<String, BTreeMap<String, String>>) {
    if o.kind() != "ConfigMap" {
        return;
    }
    let Some(keys) = config.get(o.name()) else { return };
    let data = crate::release::model::ensure_object(o.as_map_mut(), "data");
    for (k, v) in keys {
        data.insert(k.clone(), Value::String(v.clone()));
    }
}
