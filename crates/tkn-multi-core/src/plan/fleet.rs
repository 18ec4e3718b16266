//! The declarative fleet file of `tkn-multi apply -f`. **Pure.**
//!
//! ```yaml
//! apiVersion: tkn-multi.tekton.dev/v1alpha1
//! kind: Fleet
//! shared:                      # all optional
//!   namespace: tekton-shared
//!   mode: install              # install | skip
//!   update: if-older           # if-older | never | always
//!   keepOnUninstall: false
//!   downgrade: false
//! instances:
//! - name: team-a
//!   version: v0.44.2
//!   namespace: team-a                      # default: the name
//!   controlPlaneNamespace: tekton-team-a   # default: tekton-<name>
//!   config:                                # ConfigMap keys to override
//!     feature-flags: {enable-api-fields: beta}
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::desired::{Desired, DesiredInstance, SharedMode, SharedPolicy, UpdateShared};
use super::overrides::{DeploymentOverride, ImageRegistry, Overrides};
use crate::names::{ClusterName, InstanceName, NamespaceName, default_control_plane_namespace};
use crate::release::TektonVersion;
use crate::split::{DEFAULT_SHARED_NAMESPACE, InstanceSpec, SharedSpec};
use crate::yaml;

/// The `apiVersion` of a one-cluster fleet file.
pub const FLEET_API_VERSION: &str = "tkn-multi.tekton.dev/v1alpha1";

/// The `apiVersion` of a fleet file with clusters.
pub const FLEET_V1ALPHA2: &str = "tkn-multi.tekton.dev/v1alpha2";

/// What every fleet file starts with.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    api_version: String,
    kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FleetFile {
    #[allow(dead_code)] // checked by `Head`
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    shared: SharedSection,
    #[serde(default)]
    instances: Vec<FleetInstance>,
}

/// What a one-cluster fleet asks for: the shared-layer policy and every instance. The body of a
/// v1alpha1 fleet file, and the spec of the `TektonFleet` resource (one schema, one validation).
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetSpec {
    /// The shared layer's namespace and policy.
    #[serde(default)]
    pub shared: SharedSection,
    /// Every instance that should exist; installed ones not listed are uninstalled.
    #[serde(default)]
    pub instances: Vec<FleetInstance>,
}

impl FleetSpec {
    /// The desired state (every instance in scope), checked as `apply -f` checks it.
    ///
    /// # Errors
    /// Two instances with one name, or one namespace claimed twice.
    pub fn desired(&self) -> Result<Desired, super::error::Error> {
        let (shared, policy) = shared_of(self.shared.clone());
        let instances =
            self.instances.iter().map(|i| desired_instance(i.clone(), &[], None)).collect();
        let d = Desired {
            shared,
            policy,
            image_registry: None,
            instances,
            scope: None,
            certificates: BTreeMap::new(),
        };
        super::check_desired(&d)?;
        Ok(d)
    }
}

/// The shared layer's namespace and policy (every field optional).
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SharedSection {
    /// The shared namespace [default: tekton-shared].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NamespaceName>,
    /// `install` (change the shared layer as needed) or `skip` (never touch it).
    #[serde(default)]
    pub mode: SharedMode,
    /// When the shared layer's version changes: `if-older`, `never`, `always`.
    #[serde(default)]
    pub update: UpdateShared,
    /// Keep the shared layer when the last instance goes.
    #[serde(default)]
    pub keep_on_uninstall: bool,
    /// Lower the shared layer to what the remaining instances need, when the matrix says it is
    /// safe.
    #[serde(default)]
    pub downgrade: bool,
    /// Move the shared layer even to a version the compatibility lab's evidence shows breaking
    /// an instance's workloads.
    #[serde(default)]
    pub accept_broken_workloads: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FleetFileV2 {
    #[allow(dead_code)] // checked by `Head`
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    clusters: Vec<ClusterEntry>,
    #[serde(default)]
    shared: SharedSection,
    #[serde(default)]
    instances: Vec<FleetInstanceV2>,
}

/// A cluster of a fleet: how to reach it, and the labels placements select it by.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterEntry {
    /// Its name in the fleet (plans, state files, `--cluster`).
    pub name: ClusterName,
    /// The kubeconfig context [default: the kubeconfig's current one].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// A kubeconfig file [default: `--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Labels for `clusterSelector`s.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Relocate every image on this cluster (shared layer included) to this mirror.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_registry: Option<ImageRegistry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FleetInstanceV2 {
    name: InstanceName,
    version: TektonVersion,
    namespace: Option<NamespaceName>,
    control_plane_namespace: Option<NamespaceName>,
    #[serde(default)]
    config: BTreeMap<String, BTreeMap<String, String>>,
    placement: Option<ClusterTarget>,
    #[serde(default)]
    overrides: Vec<OverrideEntry>,
}

/// `KubeFed`'s placement: cluster names, or when none are given, a label selector.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClusterTarget {
    clusters: Option<Vec<ClusterName>>,
    cluster_selector: Option<LabelSelector>,
}

impl ClusterTarget {
    /// The clusters this names: `KubeFed`'s rule, names win over the selector; `clusters: []`
    /// is none, a selector `{}` every cluster.
    fn select(
        &self,
        clusters: &[ClusterEntry],
        whose: &str,
    ) -> Result<BTreeSet<ClusterName>, String> {
        if let Some(names) = &self.clusters {
            return Ok(names
                .iter()
                .filter(|n| clusters.iter().any(|c| &c.name == *n))
                .cloned()
                .collect());
        }
        let Some(sel) = &self.cluster_selector else { return Ok(BTreeSet::new()) };
        let mut out = BTreeSet::new();
        for c in clusters {
            if sel.matches(&c.labels).map_err(|why| format!("{whose}: {why}"))? {
                out.insert(c.name.clone());
            }
        }
        Ok(out)
    }
}

/// A Kubernetes label selector.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LabelSelector {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
    #[serde(default)]
    match_expressions: Vec<Requirement>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Requirement {
    key: String,
    operator: Operator,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    /// Whether `labels` match: every `matchLabels` pair and every expression (Kubernetes'
    /// rules, `NotIn` matching a missing key).
    fn matches(&self, labels: &BTreeMap<String, String>) -> Result<bool, String> {
        let mut all = self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v));
        for r in &self.match_expressions {
            let has_values = !r.values.is_empty();
            let ok = match r.operator {
                Operator::In | Operator::NotIn if !has_values => {
                    return Err(format!("`{:?}` on `{}` needs `values`", r.operator, r.key));
                }
                Operator::Exists | Operator::DoesNotExist if has_values => {
                    return Err(format!("`{:?}` on `{}` takes no `values`", r.operator, r.key));
                }
                Operator::In => labels.get(&r.key).is_some_and(|v| r.values.contains(v)),
                Operator::NotIn => labels.get(&r.key).is_none_or(|v| !r.values.contains(v)),
                Operator::Exists => labels.contains_key(&r.key),
                Operator::DoesNotExist => !labels.contains_key(&r.key),
            };
            all &= ok;
        }
        Ok(all)
    }
}

impl OverrideEntry {
    fn target(&self) -> ClusterTarget {
        ClusterTarget {
            clusters: self.clusters.clone(),
            cluster_selector: self.cluster_selector.clone(),
        }
    }
}

impl FleetInstanceV2 {
    fn base(&self) -> FleetInstance {
        FleetInstance {
            name: self.name.clone(),
            version: self.version.clone(),
            namespace: self.namespace.clone(),
            control_plane_namespace: self.control_plane_namespace.clone(),
            config: self.config.clone(),
        }
    }
}

/// Per-cluster changes to one instance.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OverrideEntry {
    clusters: Option<Vec<ClusterName>>,
    cluster_selector: Option<LabelSelector>,
    #[serde(default)]
    config: BTreeMap<String, BTreeMap<String, String>>,
    image_registry: Option<ImageRegistry>,
    #[serde(default)]
    deployments: BTreeMap<String, DeploymentOverride>,
}

/// One instance of a one-cluster fleet.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetInstance {
    /// The instance's name.
    pub name: InstanceName,
    /// Its Tekton Pipelines version.
    pub version: TektonVersion,
    /// The namespace it reconciles [default: its name].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NamespaceName>,
    /// Where its controller and webhook run [default: tekton-<name>].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_namespace: Option<NamespaceName>,
    /// `ConfigMap` keys to override, by `ConfigMap` name (`feature-flags`, `config-defaults`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, BTreeMap<String, String>>,
}

/// A fleet file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not valid YAML, or not the fleet schema.
    #[error("fleet file `{origin}` is invalid")]
    Invalid {
        /// The file.
        origin: String,
        /// The parser's message (with line and column).
        #[source]
        source: yaml::Error,
    },
    /// Wrong `apiVersion`/`kind`.
    #[error(
        "fleet file `{origin}` is `{api_version}`/`{kind}`, expected `{FLEET_API_VERSION}`/`Fleet` or `{FLEET_V1ALPHA2}`/`Fleet`"
    )]
    WrongKind {
        /// The file.
        origin: String,
        /// Its apiVersion.
        api_version: String,
        /// Its kind.
        kind: String,
    },
    /// Valid YAML of the schema, but not a usable fleet (unknown clusters, no placement, an
    /// override that matches nothing, …).
    #[error("fleet file `{origin}`: {what}")]
    Fleet {
        /// The file.
        origin: String,
        /// What is wrong.
        what: String,
    },
    /// Its instances conflict (two with one name, two claiming one namespace).
    #[error("fleet file `{origin}`")]
    Spec {
        /// The file.
        origin: String,
        /// The planner's refusal.
        #[source]
        source: Box<super::error::Error>,
    },
    /// The instances placed on one cluster conflict (two with one namespace, …).
    #[error("fleet file `{origin}`: on cluster `{cluster}`")]
    OnCluster {
        /// The file.
        origin: String,
        /// The cluster.
        cluster: ClusterName,
        /// The planner's refusal.
        #[source]
        source: Box<super::error::Error>,
    },
}

/// Parses a v1alpha1 fleet file (one cluster) into the desired state (every instance in
/// scope); a v1alpha2 file (clusters) is refused here: use [`parse`].
pub fn parse_fleet(text: &str, origin: &str) -> Result<Desired, Error> {
    match parse(text, origin)? {
        Fleet::Single(d) => Ok(d),
        Fleet::Clusters(_) => Err(Error::WrongKind {
            origin: origin.into(),
            api_version: FLEET_V1ALPHA2.into(),
            kind: "Fleet".into(),
        }),
    }
}

/// A parsed fleet file.
#[derive(Debug, Clone)]
pub enum Fleet {
    /// v1alpha1: one cluster, the one the flags name.
    Single(Desired),
    /// v1alpha2: the desired state of every cluster, in the file's order.
    Clusters(Vec<Member>),
}

/// One cluster of a v1alpha2 fleet, and what it should hold.
#[derive(Debug, Clone)]
pub struct Member {
    /// How to reach it.
    pub cluster: ClusterEntry,
    /// Its desired state: the instances placed on it, with the overrides that match it (every
    /// instance in scope: one placed elsewhere is removed here).
    pub desired: Desired,
}

/// Parses a fleet file of either apiVersion, and checks it in full: names, placements,
/// overrides, and on every cluster that no two instances claim one namespace.
pub fn parse(text: &str, origin: &str) -> Result<Fleet, Error> {
    let invalid = |source| Error::Invalid { origin: origin.into(), source };
    let head: Head = yaml::from_str(text).map_err(invalid)?;
    match (head.api_version.as_str(), head.kind.as_str()) {
        (FLEET_API_VERSION, "Fleet") => {
            let f: FleetFile = yaml::from_str(text).map_err(invalid)?;
            let spec = FleetSpec { shared: f.shared, instances: f.instances };
            // The planner checks names and namespaces again; checked here, the error names the
            // file.
            spec.desired()
                .map(Fleet::Single)
                .map_err(|source| Error::Spec { origin: origin.into(), source: Box::new(source) })
        }
        (FLEET_V1ALPHA2, "Fleet") => {
            let f: FleetFileV2 = yaml::from_str(text).map_err(invalid)?;
            members(f, origin)
        }
        _ => Err(Error::WrongKind {
            origin: origin.into(),
            api_version: head.api_version,
            kind: head.kind,
        }),
    }
}

fn shared_of(s: SharedSection) -> (SharedSpec, SharedPolicy) {
    let shared = SharedSpec {
        namespace: s.namespace.unwrap_or_else(|| {
            DEFAULT_SHARED_NAMESPACE.parse().expect("the default is a valid name")
        }),
    };
    let policy = SharedPolicy {
        mode: s.mode,
        update: s.update,
        keep_on_uninstall: s.keep_on_uninstall,
        downgrade: s.downgrade,
        accept_broken_workloads: s.accept_broken_workloads,
    };
    (shared, policy)
}

/// An instance of the file as desired on one cluster: `overrides` (those that match the
/// cluster, in the file's order: later ones win) on top of its own config, and the cluster's
/// registry unless an override names one.
fn desired_instance(
    i: FleetInstance,
    overrides: &[&OverrideEntry],
    cluster_registry: Option<&ImageRegistry>,
) -> DesiredInstance {
    let namespace = i.namespace.unwrap_or_else(|| {
        i.name.as_str().parse().expect("an instance name is a valid namespace name")
    });
    let control_plane_namespace =
        i.control_plane_namespace.unwrap_or_else(|| default_control_plane_namespace(&i.name));
    let mut config = i.config;
    let mut o = Overrides::registry(cluster_registry.cloned());
    for entry in overrides {
        for (map, keys) in &entry.config {
            config.entry(map.clone()).or_default().extend(keys.clone());
        }
        if let Some(r) = &entry.image_registry {
            o.image_registry = Some(r.clone());
        }
        for (name, d) in &entry.deployments {
            let merged = o.deployments.entry(name.clone()).or_default();
            if d.replicas.is_some() {
                merged.replicas = d.replicas;
            }
            if d.resources.is_some() {
                merged.resources.clone_from(&d.resources);
            }
            if d.node_selector.is_some() {
                merged.node_selector.clone_from(&d.node_selector);
            }
            if d.tolerations.is_some() {
                merged.tolerations.clone_from(&d.tolerations);
            }
        }
    }
    DesiredInstance {
        spec: InstanceSpec { name: i.name, namespace, control_plane_namespace, admission_ca: None },
        version: i.version,
        config,
        overrides: o,
    }
}

fn members(f: FleetFileV2, origin: &str) -> Result<Fleet, Error> {
    let e = |what: String| Error::Fleet { origin: origin.into(), what };
    if f.clusters.is_empty() {
        return Err(e("it names no clusters (`clusters:` is empty)".into()));
    }
    let mut seen = BTreeSet::new();
    let mut targets = BTreeSet::new();
    for c in &f.clusters {
        if !seen.insert(c.name.clone()) {
            return Err(e(format!("cluster `{}` is listed twice", c.name)));
        }
        if c.context.is_none() && c.kubeconfig.is_none() {
            return Err(e(format!(
                "cluster `{}` names neither a `context` nor a `kubeconfig`",
                c.name
            )));
        }
        if !targets.insert((c.kubeconfig.clone(), c.context.clone())) {
            return Err(e(format!(
                "cluster `{}` has the same kubeconfig and context as another cluster",
                c.name
            )));
        }
    }
    let known =
        || f.clusters.iter().map(|c| format!("`{}`", c.name)).collect::<Vec<_>>().join(", ");
    let check_names = |names: &[ClusterName], whose: &str| -> Result<(), Error> {
        match names.iter().find(|n| !seen.contains(*n)) {
            Some(n) => Err(e(format!(
                "{whose} names cluster `{n}`, which is not in `clusters:` ({})",
                known()
            ))),
            None => Ok(()),
        }
    };
    let mut names = BTreeSet::new();
    // Which clusters each instance is on, and which clusters each of its overrides matches.
    let mut placed: Vec<Placed> = Vec::new();
    for i in f.instances {
        if !names.insert(i.name.clone()) {
            return Err(e(format!("instance `{}` is listed twice", i.name)));
        }
        let Some(placement) = &i.placement else {
            return Err(e(format!(
                "instance `{}` has no `placement`; give `clusters: [...]` or a `clusterSelector` (`{{}}` selects every cluster)",
                i.name
            )));
        };
        let whose = format!("the placement of instance `{}`", i.name);
        let on = placement.select(&f.clusters, &whose).map_err(e)?;
        check_names(placement.clusters.as_deref().unwrap_or_default(), &whose)?;
        let mut overrides = Vec::new();
        for (n, o) in i.overrides.iter().enumerate() {
            let whose = format!("override {} of instance `{}`", n + 1, i.name);
            if o.clusters.is_none() && o.cluster_selector.is_none() {
                return Err(e(format!("{whose} names no `clusters` and no `clusterSelector`")));
            }
            check_names(o.clusters.as_deref().unwrap_or_default(), &whose)?;
            let matched = o.target().select(&f.clusters, &whose).map_err(e)?;
            if matched.is_disjoint(&on) {
                return Err(e(format!(
                    "{whose} matches no cluster the instance is placed on ({})",
                    if on.is_empty() {
                        "none".to_owned()
                    } else {
                        on.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
                    }
                )));
            }
            overrides.push(matched);
        }
        placed.push(Placed { instance: i, on, overrides });
    }
    Ok(Fleet::Clusters(per_cluster(&f.clusters, f.shared, &placed, origin)?))
}

/// An instance of a v1alpha2 fleet with the clusters it is placed on, and for each of its
/// overrides (in order) the clusters that override matches.
struct Placed {
    instance: FleetInstanceV2,
    on: BTreeSet<ClusterName>,
    overrides: Vec<BTreeSet<ClusterName>>,
}

/// Every cluster's desired state: the instances placed on it, with the overrides that match it.
fn per_cluster(
    clusters: &[ClusterEntry],
    shared: SharedSection,
    placed: &[Placed],
    origin: &str,
) -> Result<Vec<Member>, Error> {
    let (shared, policy) = shared_of(shared);
    let mut out = Vec::new();
    for c in clusters {
        let mut instances = Vec::new();
        for p in placed.iter().filter(|p| p.on.contains(&c.name)) {
            let matching: Vec<&OverrideEntry> = p
                .instance
                .overrides
                .iter()
                .zip(&p.overrides)
                .filter(|(_, matched)| matched.contains(&c.name))
                .map(|(o, _)| o)
                .collect();
            instances.push(desired_instance(
                p.instance.base(),
                &matching,
                c.image_registry.as_ref(),
            ));
        }
        let desired = Desired {
            shared: shared.clone(),
            policy: policy.clone(),
            image_registry: c.image_registry.clone(),
            instances,
            scope: None,
            certificates: BTreeMap::new(),
        };
        super::check_desired(&desired).map_err(|source| Error::OnCluster {
            origin: origin.into(),
            cluster: c.name.clone(),
            source: Box::new(source),
        })?;
        out.push(Member { cluster: c.clone(), desired });
    }
    Ok(out)
}

/// Every one of these is about the request or its input.
impl crate::fault::Classify for Error {
    fn class(&self) -> crate::fault::Class {
        crate::fault::Class::User
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_with_defaults() {
        let d = parse_fleet(
            "apiVersion: tkn-multi.tekton.dev/v1alpha1\nkind: Fleet\ninstances:\n- name: team-a\n  version: v0.50.3\n  config:\n    feature-flags: {enable-api-fields: alpha}\n",
            "f.yaml",
        )
        .unwrap();
        assert_eq!(d.instances[0].spec.control_plane_namespace.as_str(), "tekton-team-a");
        assert_eq!(d.instances[0].spec.namespace.as_str(), "team-a");
        assert_eq!(d.instances[0].config["feature-flags"]["enable-api-fields"], "alpha");
        assert_eq!(d.shared.namespace.as_str(), "tekton-shared");
        assert!(d.scope.is_none());
    }

    #[test]
    fn unknown_fields_bad_names_and_kinds_are_errors() {
        let e = parse_fleet(
            "apiVersion: tkn-multi.tekton.dev/v1alpha1\nkind: Fleet\ninstancez: []\n",
            "f",
        )
        .unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }));
        let e = parse_fleet(
            "apiVersion: tkn-multi.tekton.dev/v1alpha1\nkind: Fleet\ninstances:\n- {name: Team_A, version: v0.50.3}\n",
            "f",
        )
        .unwrap_err();
        assert!(format!("{e:?}").contains("Team_A"), "{e:?}");
        let e = parse_fleet("apiVersion: v1\nkind: ConfigMap\n", "f").unwrap_err();
        assert_eq!(
            e.to_string(),
            "fleet file `f` is `v1`/`ConfigMap`, expected `tkn-multi.tekton.dev/v1alpha1`/`Fleet` or `tkn-multi.tekton.dev/v1alpha2`/`Fleet`"
        );
    }

    fn clusters(text: &str) -> Vec<Member> {
        match parse(text, "f.yaml").unwrap() {
            Fleet::Clusters(m) => m,
            Fleet::Single(_) => panic!("v1alpha2 parsed as one cluster"),
        }
    }

    fn on<'a>(m: &'a [Member], cluster: &str) -> &'a Desired {
        &m.iter().find(|m| m.cluster.name.as_str() == cluster).unwrap().desired
    }

    fn names(d: &Desired) -> Vec<&str> {
        d.instances.iter().map(|i| i.spec.name.as_str()).collect()
    }

    #[test]
    fn the_two_cluster_example_places_by_selector_and_name_with_overrides_where_they_match() {
        let text = include_str!("../../../../docs/examples/fleet-two-clusters.yaml");
        let m = clusters(text);
        assert_eq!(m.len(), 2);
        let (east, west) = (on(&m, "east"), on(&m, "west"));
        assert_eq!(names(east), ["build", "legacy"]);
        assert_eq!(names(west), ["build", "release", "legacy"]);
        // The config and replicas override name `east` only.
        let build = |d: &Desired| {
            d.instances.iter().find(|i| i.spec.name.as_str() == "build").cloned().unwrap()
        };
        assert_eq!(build(east).config["feature-flags"]["enable-api-fields"], "beta");
        assert!(build(west).config.is_empty());
        assert_eq!(
            build(east).overrides.deployments["tekton-pipelines-controller"].replicas,
            Some(2)
        );
        assert!(build(west).overrides.deployments.is_empty());
        // `west`'s registry covers its shared layer and instances; an override wins over it.
        assert_eq!(east.image_registry, None);
        assert_eq!(build(east).overrides.image_registry, None);
        let mirror = |d: &Desired, i: &str| {
            d.instances
                .iter()
                .find(|x| x.spec.name.as_str() == i)
                .unwrap()
                .overrides
                .image_registry
                .as_ref()
                .map(ToString::to_string)
        };
        assert_eq!(
            west.image_registry.as_ref().unwrap().to_string(),
            "mirror.west.example.com:5000/tekton"
        );
        assert_eq!(mirror(west, "build").as_deref(), Some("mirror.west.example.com:5000/tekton"));
        assert_eq!(mirror(west, "release").as_deref(), Some("mirror.release.example.com/tekton"));
        assert!(east.scope.is_none() && west.scope.is_none());
    }

    const HEAD: &str = "apiVersion: tkn-multi.tekton.dev/v1alpha2\nkind: Fleet\nclusters:\n- {name: a, context: ca, labels: {env: prod, zone: x}}\n- {name: b, context: cb, labels: {env: dev}}\n- {name: c, context: cc}\ninstances:\n";

    fn err(instances: &str) -> String {
        format!(
            "{:#}",
            anyhow::Error::from(parse(&format!("{HEAD}{instances}"), "f.yaml").unwrap_err())
        )
    }

    #[test]
    fn selectors_follow_kubernetes_and_names_win_over_them() {
        let m = clusters(&format!(
            "{HEAD}- {{name: i1, version: v0.50.3, placement: {{clusterSelector: {{matchExpressions: [{{key: env, operator: NotIn, values: [dev]}}]}}}}}}\n\
             - {{name: i2, version: v0.50.3, placement: {{clusterSelector: {{matchExpressions: [{{key: env, operator: Exists}}], matchLabels: {{zone: x}}}}}}}}\n\
             - {{name: i3, version: v0.50.3, placement: {{clusters: [b], clusterSelector: {{}}}}}}\n\
             - {{name: i4, version: v0.50.3, placement: {{clusters: []}}}}\n\
             - {{name: i5, version: v0.50.3, placement: {{clusterSelector: {{matchExpressions: [{{key: env, operator: DoesNotExist}}]}}}}}}\n"
        ));
        assert_eq!(names(on(&m, "a")), ["i1", "i2"]);
        assert_eq!(names(on(&m, "b")), ["i3"]);
        assert_eq!(names(on(&m, "c")), ["i1", "i5"]);
    }

    #[test]
    fn bad_fleets_say_what_is_wrong() {
        for (instances, says) in [
            ("- {name: i, version: v0.50.3}\n", "instance `i` has no `placement`"),
            (
                "- {name: i, version: v0.50.3, placement: {clusters: [z]}}\n",
                "names cluster `z`, which is not in `clusters:` (`a`, `b`, `c`)",
            ),
            (
                "- {name: i, version: v0.50.3, placement: {clusters: [a]}, overrides: [{clusters: [b], config: {feature-flags: {x: y}}}]}\n",
                "override 1 of instance `i` matches no cluster the instance is placed on (`a`)",
            ),
            (
                "- {name: i, version: v0.50.3, placement: {clusters: [a]}, overrides: [{config: {}}]}\n",
                "names no `clusters` and no `clusterSelector`",
            ),
            (
                "- {name: i, version: v0.50.3, placement: {clusterSelector: {matchExpressions: [{key: env, operator: In}]}}}\n",
                "`In` on `env` needs `values`",
            ),
            (
                "- {name: i, version: v0.50.3, placement: {clusterSelector: {matchExpressions: [{key: env, operator: Has}]}}}\n",
                "Has",
            ),
            (
                "- {name: i, version: v0.50.3, placement: {clusters: [a]}, overides: []}\n",
                "overides",
            ),
            (
                "- {name: i, version: v0.50.3, placement: {clusters: [a]}, overrides: [{clusters: [a], deployments: {x: {replica: 2}}}]}\n",
                "replica",
            ),
            (
                "- {name: i, version: v0.50.3, placement: {clusters: [a]}, overrides: [{clusters: [a], imageRegistry: 'https://m'}]}\n",
                "is not an image registry",
            ),
            (
                "- {name: i, version: v0.50.3, placement: {clusters: [a]}}\n- {name: i, version: v0.51.0, placement: {clusters: [b]}}\n",
                "instance `i` is listed twice",
            ),
            (
                "- {name: i, version: v0.50.3, namespace: ns, placement: {clusters: [a, b]}}\n- {name: j, version: v0.51.0, namespace: ns, placement: {clusters: [b]}}\n",
                "on cluster `b`: namespace `ns` is claimed by both `i` and `j`",
            ),
        ] {
            let e = err(instances);
            assert!(e.contains(says), "{instances}: {e}");
        }
        // Two instances may use one namespace on different clusters.
        clusters(&format!(
            "{HEAD}- {{name: i, version: v0.50.3, namespace: ns, placement: {{clusters: [a]}}}}\n- {{name: j, version: v0.51.0, namespace: ns, placement: {{clusters: [b]}}}}\n"
        ));
        for (file, says) in [
            (
                "apiVersion: tkn-multi.tekton.dev/v1alpha2\nkind: Fleet\nclusters: []\n",
                "names no clusters",
            ),
            (
                "apiVersion: tkn-multi.tekton.dev/v1alpha2\nkind: Fleet\nclusters: [{name: a, context: x}, {name: a, context: y}]\n",
                "cluster `a` is listed twice",
            ),
            (
                "apiVersion: tkn-multi.tekton.dev/v1alpha2\nkind: Fleet\nclusters: [{name: a}]\n",
                "names neither a `context` nor a `kubeconfig`",
            ),
            (
                "apiVersion: tkn-multi.tekton.dev/v1alpha2\nkind: Fleet\nclusters: [{name: a, context: x}, {name: b, context: x}]\n",
                "same kubeconfig and context",
            ),
            (
                "apiVersion: tkn-multi.tekton.dev/v1alpha2\nkind: Fleet\nclusters: [{name: A, context: x}]\n",
                "not a valid cluster name",
            ),
            ("apiVersion: tkn-multi.tekton.dev/v1alpha2\nkind: Fleet\ninstances: []\n", "clusters"),
        ] {
            let e = format!("{:#}", anyhow::Error::from(parse(file, "f.yaml").unwrap_err()));
            assert!(e.contains(says), "{file}: {e}");
        }
    }
}
