//! A parsed fleet file as what each cluster should hold: one desired state per member cluster,
//! placements and overrides applied, checked as a whole. **Pure.**

use std::collections::{BTreeMap, BTreeSet};

use super::error::Error;
use super::schema::{
    ClusterEntry, FLEET_API_VERSION, FLEET_V1ALPHA2, FleetFile, FleetFileV2, FleetInstance,
    FleetInstanceV2, FleetSpec, Gate, Head, OverrideEntry, SharedSection,
};
use crate::names::{ClusterName, StageName, default_control_plane_namespace};
use crate::plan::desired::{Desired, DesiredInstance, SharedPolicy};
use crate::plan::overrides::{ImageRegistry, Overrides};
use crate::split::{DEFAULT_SHARED_NAMESPACE, InstanceSpec, SharedSpec};
use crate::yaml;

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
    /// The rollout stage it belongs to, when the fleet has `stages:`.
    pub stage: Option<Stage>,
    /// Its desired state: the instances placed on it, with the overrides that match it (every
    /// instance in scope: one placed elsewhere is removed here).
    pub desired: Desired,
}

/// A rollout stage of a fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Its name.
    pub name: StageName,
    /// Its place in the rollout (0 first).
    pub index: usize,
    /// What must hold before the next stage starts.
    pub gate: Gate,
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

pub(crate) fn shared_of(s: SharedSection) -> (SharedSpec, SharedPolicy) {
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
pub(crate) fn desired_instance(
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
    let mut version = i.version;
    let mut o = Overrides::registry(cluster_registry.cloned());
    for entry in overrides {
        if let Some(v) = &entry.version {
            version = v.clone();
        }
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
        version,
        config,
        overrides: o,
        kept_defaults: BTreeMap::new(),
        keep_defaults: i.keep_defaults,
    }
}

pub(crate) fn members(f: FleetFileV2, origin: &str) -> Result<Fleet, Error> {
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
    let stage_of = stages(&f, &e, &check_names)?;
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
        let on =
            placement.select(f.clusters.iter().map(|c| (&c.name, &c.labels)), &whose).map_err(e)?;
        check_names(placement.clusters.as_deref().unwrap_or_default(), &whose)?;
        let mut overrides = Vec::new();
        for (n, o) in i.overrides.iter().enumerate() {
            let whose = format!("override {} of instance `{}`", n + 1, i.name);
            if o.clusters.is_none() && o.cluster_selector.is_none() && o.stages.is_none() {
                return Err(e(format!(
                    "{whose} names no `clusters`, no `clusterSelector` and no `stages`"
                )));
            }
            check_names(o.clusters.as_deref().unwrap_or_default(), &whose)?;
            let mut matched = if o.clusters.is_none() && o.cluster_selector.is_none() {
                seen.clone()
            } else {
                o.target()
                    .select(f.clusters.iter().map(|c| (&c.name, &c.labels)), &whose)
                    .map_err(e)?
            };
            if let Some(wanted) = &o.stages {
                let staged = in_stages(&f.stages, &stage_of, wanted, &whose).map_err(e)?;
                matched.retain(|c| staged.contains(c));
            }
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
    Ok(Fleet::Clusters(per_cluster(&f.clusters, &stage_of, f.shared, &placed, origin)?))
}

/// The clusters of the stages `wanted` names.
fn in_stages(
    stages: &[super::schema::StageEntry],
    stage_of: &BTreeMap<ClusterName, Stage>,
    wanted: &[StageName],
    whose: &str,
) -> Result<BTreeSet<ClusterName>, String> {
    if stages.is_empty() {
        return Err(format!("{whose} names `stages`, but the fleet has no `stages:`"));
    }
    if let Some(unknown) = wanted.iter().find(|w| !stages.iter().any(|s| &&s.name == w)) {
        return Err(format!(
            "{whose} names stage `{unknown}`, which is not in `stages:` ({})",
            stages.iter().map(|s| format!("`{}`", s.name)).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(stage_of.iter().filter(|(_, s)| wanted.contains(&s.name)).map(|(c, _)| c.clone()).collect())
}

/// Checks that cluster names are in `clusters:`.
type CheckNames<'a> = &'a dyn Fn(&[ClusterName], &str) -> Result<(), Error>;

/// The stage of every cluster, when the fleet has `stages:` (empty otherwise): a cluster
/// belongs to the first stage that selects it, and every cluster must be in one.
fn stages(
    f: &FleetFileV2,
    e: &dyn Fn(String) -> Error,
    check_names: CheckNames<'_>,
) -> Result<BTreeMap<ClusterName, Stage>, Error> {
    let mut of: BTreeMap<ClusterName, Stage> = BTreeMap::new();
    let mut names = BTreeSet::new();
    for (index, s) in f.stages.iter().enumerate() {
        let whose = format!("stage `{}`", s.name);
        if !names.insert(s.name.clone()) {
            return Err(e(format!("{whose} is listed twice")));
        }
        if s.clusters.is_none() && s.cluster_selector.is_none() {
            return Err(e(format!(
                "{whose} names no `clusters` and no `clusterSelector` (`{{}}` selects every cluster)"
            )));
        }
        check_names(s.clusters.as_deref().unwrap_or_default(), &whose)?;
        let selected = s
            .target()
            .select(f.clusters.iter().map(|c| (&c.name, &c.labels)), &whose)
            .map_err(e)?;
        let stage = Stage { name: s.name.clone(), index, gate: s.gate.clone().unwrap_or_default() };
        let mut any = false;
        for c in selected {
            if let std::collections::btree_map::Entry::Vacant(v) = of.entry(c) {
                v.insert(stage.clone());
                any = true;
            }
        }
        if !any {
            return Err(e(format!(
                "{whose} selects no cluster that an earlier stage has not taken"
            )));
        }
    }
    if !f.stages.is_empty()
        && let Some(c) = f.clusters.iter().find(|c| !of.contains_key(&c.name))
    {
        return Err(e(format!(
            "cluster `{}` is in no stage (with `stages:`, every cluster must be in one)",
            c.name
        )));
    }
    Ok(of)
}

/// An instance of a v1alpha2 fleet with the clusters it is placed on, and for each of its
/// overrides (in order) the clusters that override matches.
pub(crate) struct Placed {
    pub(crate) instance: FleetInstanceV2,
    pub(crate) on: BTreeSet<ClusterName>,
    pub(crate) overrides: Vec<BTreeSet<ClusterName>>,
}

/// Every cluster's desired state: the instances placed on it, with the overrides that match it.
pub(crate) fn per_cluster(
    clusters: &[ClusterEntry],
    stage_of: &BTreeMap<ClusterName, Stage>,
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
        crate::plan::check_desired(&desired).map_err(|source| Error::OnCluster {
            origin: origin.into(),
            cluster: c.name.clone(),
            source: Box::new(source),
        })?;
        out.push(Member { cluster: c.clone(), stage: stage_of.get(&c.name).cloned(), desired });
    }
    Ok(out)
}

impl FleetSpec {
    /// The desired state (every instance in scope), checked as `apply -f` checks it.
    ///
    /// # Errors
    /// Two instances with one name, or one namespace claimed twice.
    pub fn desired(&self) -> Result<Desired, crate::plan::Error> {
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
        crate::plan::check_desired(&d)?;
        Ok(d)
    }
}
