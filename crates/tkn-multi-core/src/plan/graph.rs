//! The plan as a petgraph DAG, its ordering rules, and its deterministic linearisation. **Pure.**

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use super::model::{
    Action, Dependency, ObjectsByRef, PLAN_FORMAT_VERSION, Plan, Step, StepKind, Summary,
    TargetState,
};
use super::objects::hashes;
use super::order::Order;
use super::state::{ClusterState, ObservedShared};
use crate::matrix::check::SharedLayer;
use crate::names::SHARED_OWNER;
use crate::release::{Object, ObjectRef};

/// A node: the step and, for applies, the object to apply.
#[derive(Debug, Clone)]
pub struct Node {
    /// The step.
    pub kind: StepKind,
    /// The desired object (creates, updates, replaces).
    pub manifest: Option<Object>,
}

/// The plan graph; edge weights name the ordering rule.
pub type PlanGraph = DiGraph<Node, Order>;

fn is_webhook_deployment(o: &ObjectRef) -> bool {
    o.kind == "Deployment" && o.name == "tekton-pipelines-webhook"
}

/// Builds the graph: object steps from the diff, waits, migrations, and the ordering edges.
pub fn build(
    wanted: &ObjectsByRef,
    observed: &ClusterState,
    in_scope: &dyn Fn(&str) -> bool,
    crds_protected: bool,
    layer: Option<&SharedLayer>,
    observed_shared: Option<&ObservedShared>,
) -> PlanGraph {
    let mut g = PlanGraph::new();
    let seen = observed.objects_by_ref();
    // Diff: desired objects.
    for (r, (owner, o)) in wanted {
        if !in_scope(owner) {
            continue;
        }
        let (hash, immutable_hash) = hashes(o);
        let (action, reason) = match seen.get(r) {
            None => (Action::Create, None),
            Some(old) if old.immutable_hash != immutable_hash => (
                Action::Replace,
                Some("an immutable field (selector, roleRef, CRD names) changed".to_owned()),
            ),
            Some(old) if old.hash != hash => {
                (Action::Update, Some(update_reason(o, observed, owner)))
            }
            Some(_) => continue,
        };
        let retain = o
            .metadata()
            .get("annotations")
            .and_then(|a| a.get(crate::managed::ANNOTATION_RETAIN))
            .is_some();
        g.add_node(Node {
            kind: StepKind::Object {
                action,
                object: r.clone(),
                owner: owner.clone(),
                reason,
                hash,
                immutable_hash,
                retain,
            },
            manifest: Some(o.clone()),
        });
    }
    // Diff: observed objects no longer wanted.
    for (r, old) in &seen {
        if wanted.contains_key(*r) || !in_scope(&old.owner) {
            continue;
        }
        if r.kind == "CustomResourceDefinition" && crds_protected {
            continue; // never delete a CRD while an instance or a Tekton object remains
        }
        if old.retain {
            continue; // the user's namespace holds their work: never deleted
        }
        g.add_node(Node {
            kind: StepKind::Object {
                action: Action::Delete,
                object: (*r).clone(),
                owner: old.owner.clone(),
                reason: None,
                hash: String::new(),
                immutable_hash: String::new(),
                retain: false,
            },
            manifest: None,
        });
    }
    add_waits_and_migrations(&mut g, layer, observed_shared);
    add_edges(&mut g);
    g
}

fn update_reason(o: &Object, observed: &ClusterState, owner: &str) -> String {
    let new = o.label(crate::managed::LABEL_VERSION).unwrap_or_default();
    let old = if owner == SHARED_OWNER {
        observed.shared.as_ref().map(|s| s.version.to_string())
    } else {
        observed.instance(owner).map(|i| i.version.to_string())
    };
    match old {
        Some(old) if old != new => format!("{old} → {new}"),
        _ => "content differs from what tkn-multi applied".to_owned(),
    }
}

fn add_waits_and_migrations(
    g: &mut PlanGraph,
    layer: Option<&SharedLayer>,
    observed_shared: Option<&ObservedShared>,
) {
    let applies: Vec<(NodeIndex, ObjectRef, String)> = g
        .node_indices()
        .filter_map(|n| match &g[n].kind {
            StepKind::Object { action, object, owner, .. } if *action != Action::Delete => {
                Some((n, object.clone(), owner.clone()))
            }
            _ => None,
        })
        .collect();
    let mut established = BTreeMap::new();
    for (n, r, owner) in applies {
        if r.kind == "CustomResourceDefinition" {
            let w = g.add_node(Node {
                kind: StepKind::WaitEstablished { crd: r.name.clone() },
                manifest: None,
            });
            g.add_edge(n, w, Order::CrdEstablished);
            established.insert(r.name.clone(), (n, w));
        } else if r.kind == "Deployment" {
            let w = g.add_node(Node {
                kind: StepKind::WaitAvailable {
                    namespace: r.namespace.clone().unwrap_or_default(),
                    name: r.name.clone(),
                    owner,
                },
                manifest: None,
            });
            g.add_edge(n, w, Order::DeploymentAvailable);
        }
    }
    let (Some(layer), Some(shared)) = (layer, observed_shared) else { return };
    for m in &layer.migrations {
        let Some(old) = shared.crds.iter().find(|c| c.name == m.crd) else { continue };
        if old.stored_versions == [m.to_storage.clone()] {
            continue;
        }
        let node = g.add_node(Node {
            kind: StepKind::MigrateStoredVersions {
                crd: m.crd.clone(),
                from: old.stored_versions.clone(),
                to: m.to_storage.clone(),
            },
            manifest: None,
        });
        if let Some((apply, wait)) = established.get(&m.crd) {
            if m.before_apply {
                g.add_edge(node, *apply, Order::MigrateBeforeUnserve);
            } else {
                g.add_edge(*wait, node, Order::MigrateBeforeUnserve);
            }
        }
    }
}

/// Everything the ordering rules need to know about a node.
struct Facts {
    n: NodeIndex,
    action: Option<Action>,
    object: Option<ObjectRef>,
    owner: String,
    wait_crd: bool,
    /// The Deployment name, for a wait until Available.
    wait_deploy: Option<String>,
}

fn facts(g: &PlanGraph) -> Vec<Facts> {
    g.node_indices()
        .map(|n| {
            let owner = g[n].kind.owner().to_owned();
            match &g[n].kind {
                StepKind::Object { action, object, .. } => Facts {
                    n,
                    action: Some(*action),
                    object: Some(object.clone()),
                    owner,
                    wait_crd: false,
                    wait_deploy: None,
                },
                StepKind::WaitEstablished { .. } => Facts {
                    n,
                    action: None,
                    object: None,
                    owner,
                    wait_crd: true,
                    wait_deploy: None,
                },
                StepKind::WaitAvailable { name, .. } => Facts {
                    n,
                    action: None,
                    object: None,
                    owner,
                    wait_crd: false,
                    wait_deploy: Some(name.clone()),
                },
                StepKind::MigrateStoredVersions { .. } | StepKind::Certificate { .. } => Facts {
                    n,
                    action: None,
                    object: None,
                    owner,
                    wait_crd: false,
                    wait_deploy: None,
                },
            }
        })
        .collect()
}

fn add_edges(g: &mut PlanGraph) {
    let f = facts(g);
    let found = edges(&f, false);
    // Every debug build (so every test plan, the random sequences included) checks that the
    // indexed candidates find exactly the edges of comparing all pairs.
    #[cfg(debug_assertions)]
    if f.len() <= 1000 {
        let indexed: std::collections::BTreeSet<_> = found.iter().copied().collect();
        let all: std::collections::BTreeSet<_> = edges(&f, true).into_iter().collect();
        assert_eq!(indexed, all, "the indexed candidates must find every ordering edge");
    }
    for (a, b, rule) in found {
        g.update_edge(a, b, rule);
    }
}

/// The ordering edges among `f`: from indexed candidates, or (`all_pairs`, the reference the
/// debug builds compare against) from every pair.
#[allow(clippy::too_many_lines)] // one block per named rule reads better than eight helpers
fn edges(f: &[Facts], all_pairs: bool) -> Vec<(NodeIndex, NodeIndex, Order)> {
    let apply = |x: &Facts| x.action.is_some_and(|a| a != Action::Delete);
    let delete = |x: &Facts| x.action == Some(Action::Delete);
    let kind = |x: &Facts| x.object.as_ref().map_or("", |o| o.kind.as_str()).to_owned();
    let mut edges: Vec<(NodeIndex, NodeIndex, Order)> = Vec::new();
    // Every rule below relates a node only to nodes of its own owner, to the objects of a
    // Namespace it is, or to a few cross-owner sets (shared deletes, CRD deletes, Deployment
    // and CRD applies for the waits): candidates come from those indexes, so building the
    // graph grows linearly with the number of instances, not with its square.
    let mut by_owner: std::collections::HashMap<&str, Vec<usize>> =
        std::collections::HashMap::new();
    let mut by_namespace: std::collections::HashMap<&str, Vec<usize>> =
        std::collections::HashMap::new();
    let (mut shared_deletes, mut crd_deletes, mut deploy_applies, mut crd_applies) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, x) in f.iter().enumerate() {
        by_owner.entry(x.owner.as_str()).or_default().push(i);
        let Some(o) = &x.object else { continue };
        if let Some(ns) = &o.namespace {
            by_namespace.entry(ns.as_str()).or_default().push(i);
        }
        match (delete(x), o.kind.as_str()) {
            (true, k) => {
                if x.owner == SHARED_OWNER {
                    shared_deletes.push(i);
                }
                if k == "CustomResourceDefinition" {
                    crd_deletes.push(i);
                }
            }
            (false, "Deployment") => deploy_applies.push(i),
            (false, "CustomResourceDefinition") => crd_applies.push(i),
            _ => {}
        }
    }
    let candidates = |a: &Facts| -> Vec<usize> {
        if all_pairs {
            return (0..f.len()).collect();
        }
        let mut c = by_owner.get(a.owner.as_str()).cloned().unwrap_or_default();
        if let Some(o) = a.object.as_ref().filter(|o| o.kind == "Namespace") {
            c.extend(by_namespace.get(o.name.as_str()).into_iter().flatten());
        }
        if delete(a) {
            c.extend(&shared_deletes);
            c.extend(&crd_deletes);
        }
        if a.wait_crd {
            c.extend(&deploy_applies);
        }
        if a.wait_deploy.is_some() {
            c.extend(&crd_applies);
        }
        c.sort_unstable();
        c.dedup();
        c
    };
    for a in f {
        for b in candidates(a).into_iter().map(|j| &f[j]) {
            if a.n == b.n {
                continue;
            }
            let (Some(ao), Some(bo)) = (&a.object, &b.object) else {
                // Rules that involve waits.
                if a.wait_crd
                    && apply(b)
                    && kind(b) == "Deployment"
                    && !is_webhook_deployment(b.object.as_ref().expect("apply"))
                {
                    edges.push((a.n, b.n, Order::CrdEstablished));
                }
                if let Some(name) = &a.wait_deploy {
                    let is_shared_webhook =
                        a.owner == SHARED_OWNER && name == "tekton-pipelines-webhook";
                    if is_shared_webhook && apply(b) && kind(b) == "CustomResourceDefinition" {
                        edges.push((a.n, b.n, Order::ConversionReady));
                    }
                    if name == "tekton-pipelines-webhook"
                        && a.owner == b.owner
                        && apply(b)
                        && kind(b).ends_with("WebhookConfiguration")
                    {
                        edges.push((a.n, b.n, Order::WebhookBeforeAdmission));
                    }
                }
                continue;
            };
            // 1. namespace-first.
            if ao.kind == "Namespace" && bo.namespace.as_deref() == Some(ao.name.as_str()) {
                if apply(a) && apply(b) {
                    edges.push((a.n, b.n, Order::NamespaceFirst));
                } else if delete(a) && delete(b) {
                    edges.push((b.n, a.n, Order::NamespaceFirst));
                }
            }
            // 4. config-before-workloads.
            if a.owner == b.owner
                && apply(a)
                && apply(b)
                && bo.kind == "Deployment"
                && crate::managed::find(&ao.kind).is_some_and(|k| k.before_workloads)
            {
                edges.push((a.n, b.n, Order::ConfigBeforeWorkloads));
            }
            // 6. admission-first-on-delete.
            if a.owner == b.owner
                && delete(a)
                && delete(b)
                && ao.kind.ends_with("WebhookConfiguration")
                && !bo.kind.ends_with("WebhookConfiguration")
            {
                edges.push((a.n, b.n, Order::AdmissionFirstOnDelete));
            }
            // 8. shared-before-instances, on delete: instances go first; CRDs go after every other
            //    delete, and the conversion webhook after the CRDs.
            if delete(a) && delete(b) {
                if a.owner != SHARED_OWNER && b.owner == SHARED_OWNER {
                    edges.push((a.n, b.n, Order::SharedBeforeInstances));
                }
                if bo.kind == "CustomResourceDefinition"
                    && ao.kind != "CustomResourceDefinition"
                    && ao.kind != "Namespace"
                    && !(a.owner == SHARED_OWNER && is_webhook_deployment(ao))
                {
                    edges.push((a.n, b.n, Order::CrdsDeletedLast));
                }
                if ao.kind == "CustomResourceDefinition"
                    && b.owner == SHARED_OWNER
                    && is_webhook_deployment(bo)
                {
                    edges.push((a.n, b.n, Order::ConversionOutlivesCrds));
                }
            }
        }
    }
    edges
}

/// Adds a certificate step for every instance in scope whose webhook certificate is due
/// (`desired.certificates`), ordered by `certificate-first`: after its namespace and its
/// `webhook-certs` Secret, before its webhook Deployment and webhook configurations.
pub fn add_certificates(
    g: &mut PlanGraph,
    desired: &super::desired::Desired,
    in_scope: &dyn Fn(&str) -> bool,
) {
    // The applies a certificate step is ordered against, read once: Namespaces by name; each
    // owner's `webhook-certs` Secret (before the step) and webhook and configurations (after).
    let mut namespaces: std::collections::HashMap<String, NodeIndex> =
        std::collections::HashMap::new();
    let mut before: std::collections::HashMap<String, Vec<NodeIndex>> =
        std::collections::HashMap::new();
    let mut after: std::collections::HashMap<String, Vec<NodeIndex>> =
        std::collections::HashMap::new();
    for n in g.node_indices() {
        let StepKind::Object { action, object: o, owner, .. } = &g[n].kind else { continue };
        if *action == Action::Delete {
            continue;
        }
        if o.kind == "Namespace" {
            namespaces.insert(o.name.clone(), n);
        } else if o.kind == "Secret" && o.name == crate::managed::WEBHOOK_CERTS_SECRET {
            before.entry(owner.clone()).or_default().push(n);
        } else if is_webhook_deployment(o) || o.kind.ends_with("WebhookConfiguration") {
            after.entry(owner.clone()).or_default().push(n);
        }
    }
    for (name, work) in &desired.certificates {
        let Some(inst) = desired.instances.iter().find(|i| i.spec.name.as_str() == name) else {
            continue;
        };
        if !in_scope(name) {
            continue;
        }
        let ns = inst.spec.control_plane_namespace.to_string();
        let cert = g.add_node(Node {
            kind: StepKind::Certificate {
                namespace: ns.clone(),
                owner: name.clone(),
                reason: work.reason.clone(),
                new_ca: work.new_ca.clone(),
                dates: work.dates.clone(),
            },
            manifest: None,
        });
        if let Some(n) = namespaces.get(&ns) {
            g.update_edge(*n, cert, Order::NamespaceFirst);
        }
        for n in before.get(name).into_iter().flatten() {
            g.update_edge(*n, cert, Order::CertificateFirst);
        }
        for n in after.get(name).into_iter().flatten() {
            g.update_edge(cert, *n, Order::CertificateFirst);
        }
    }
}

/// Sort key: applies before deletes; on apply, shared before instances and by kind rank; on
/// delete, the reverse kind order; then namespace and name.
/// Execution-order tie-breaker: (phase, owner rank, kind rank, namespace, name, owner).
type SortKey = (u8, u8, u8, String, String, String);

fn sort_key(node: &Node) -> SortKey {
    match &node.kind {
        StepKind::Object { action, object, owner, .. } => {
            let owner_rank = u8::from(owner != SHARED_OWNER);
            let rank = crate::managed::rank(&object.kind);
            if *action == Action::Delete {
                (
                    1,
                    1 - owner_rank,
                    u8::MAX - rank,
                    object.namespace.clone().unwrap_or_default(),
                    object.name.clone(),
                    owner.clone(),
                )
            } else {
                (
                    0,
                    owner_rank,
                    rank,
                    object.namespace.clone().unwrap_or_default(),
                    object.name.clone(),
                    owner.clone(),
                )
            }
        }
        StepKind::WaitEstablished { crd } | StepKind::MigrateStoredVersions { crd, .. } => (
            0,
            0,
            crate::managed::rank("CustomResourceDefinition"),
            String::new(),
            crd.clone(),
            String::new(),
        ),
        StepKind::WaitAvailable { namespace, name, owner } => (
            0,
            u8::from(owner != SHARED_OWNER),
            crate::managed::rank("Deployment"),
            namespace.clone(),
            name.clone(),
            owner.clone(),
        ),
        StepKind::Certificate { namespace, owner, .. } => (
            0,
            1,
            crate::managed::rank("Secret"),
            namespace.clone(),
            crate::managed::WEBHOOK_CERTS_SECRET.to_owned(),
            owner.clone(),
        ),
    }
}

/// Topological order with ties broken by [`sort_key`], so the same input always gives the same
/// plan; then numbers the steps and counts them.
pub fn linearise(g: &PlanGraph, shared_layer: Option<SharedLayer>, target: TargetState) -> Plan {
    let mut indegree: BTreeMap<NodeIndex, usize> = g
        .node_indices()
        .map(|n| (n, g.neighbors_directed(n, Direction::Incoming).count()))
        .collect();
    let mut ready: BinaryHeap<Reverse<(SortKey, NodeIndex)>> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(n, _)| Reverse((sort_key(&g[*n]), *n)))
        .collect();
    let mut order = Vec::with_capacity(g.node_count());
    while let Some(Reverse((_, n))) = ready.pop() {
        order.push(n);
        for m in g.neighbors_directed(n, Direction::Outgoing) {
            let d = indegree.get_mut(&m).expect("every node has a degree");
            *d -= 1;
            if *d == 0 {
                ready.push(Reverse((sort_key(&g[m]), m)));
            }
        }
    }
    assert_eq!(order.len(), g.node_count(), "the ordering rules never form a cycle (tested)");
    let position: BTreeMap<NodeIndex, usize> =
        order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut summary = Summary::default();
    let mut manifests = BTreeMap::new();
    let steps = order
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let node = &g[*n];
            match &node.kind {
                StepKind::Object { action, .. } => match action {
                    Action::Create => summary.create += 1,
                    Action::Update => summary.update += 1,
                    Action::Replace => summary.replace += 1,
                    Action::Delete => summary.delete += 1,
                },
                StepKind::MigrateStoredVersions { .. } => summary.migrate += 1,
                StepKind::Certificate { .. } => summary.certificates += 1,
                _ => {}
            }
            if let Some(m) = &node.manifest {
                manifests.insert(i, m.clone());
            }
            let mut depends_on: Vec<Dependency> = g
                .edges_directed(*n, Direction::Incoming)
                .map(|e| Dependency {
                    step: position[&petgraph::visit::EdgeRef::source(&e)],
                    rule: *e.weight(),
                })
                .collect();
            depends_on.sort();
            depends_on.dedup_by_key(|d| d.step);
            Step { index: i, kind: node.kind.clone(), depends_on }
        })
        .collect();
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        shared_layer,
        steps,
        manifests,
        target,
        notes: Vec::new(),
        shared_kept: None,
        summary,
    }
}
