//! The split's rules: which part every object belongs to, the specs of both parts, and the split itself. **Pure.**
use std::collections::HashSet;
use std::fmt;

use serde::Serialize;

use crate::release::capabilities::Capabilities;
use crate::release::{Object, ObjectRef, Release};

use super::spec::{InstanceSpec, SharedSpec, UPSTREAM_NAMESPACE, UPSTREAM_RESOLVERS_NAMESPACE};

/// Where an upstream object goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Part {
    /// Once per cluster, in the shared namespace.
    Shared,
    /// Once per instance, in its control-plane namespace.
    Instance,
    /// A copy on each side: the shared copy and every instance's copy run independently.
    Both,
    /// Not rendered at all.
    Dropped,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Shared => "shared",
            Part::Instance => "instance",
            Part::Both => "both",
            Part::Dropped => "dropped",
        })
    }
}

/// The named rules that decide an object's part. See `docs/tekton-internals.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// `CustomResourceDefinitions` exist once per cluster.
    Crd,
    /// `tekton-aggregate-edit`/`-view` extend the built-in roles by label, once per cluster.
    AggregateRole,
    /// The system namespace is recreated as the shared namespace and as each control-plane one.
    SystemNamespace,
    /// The webhook: the shared copy serves CRD conversion, each instance's copy admission.
    Webhook,
    /// Before v0.44 the webhook's admission names are hard-coded: only the shared copy runs.
    WebhookSharedOnly,
    /// Admission webhook configurations, renamed per side (v0.44+).
    AdmissionConfiguration,
    /// Before v0.44 the configurations are the instance's, renamed, with rules and caBundle
    /// written by tkn-multi (knative only reconciles the hard-coded names).
    AdmissionOwned,
    /// A version whose admission tkn-multi cannot own: the hard-coded names are not rendered.
    AdmissionHardcodedNames,
    /// The controller runs per instance, limited to the watched namespace.
    Controller,
    /// The events controller cannot be limited to a namespace: one shared copy.
    EventsController,
    /// The remote resolvers cannot be limited to a namespace: one shared copy.
    Resolvers,
    /// `ConfigMaps` and support RBAC read by components on both sides.
    Config,
    /// `policy/v1beta1` `PodSecurityPolicy` was removed in Kubernetes 1.25.
    PodSecurityPolicy,
    /// `apiextensions.k8s.io/v1beta1` CRDs were removed in Kubernetes 1.22.
    LegacyCrdApi,
    /// A second object with an identity already seen (an upstream packaging bug).
    Duplicate,
    /// Not recognised; kept with the instance.
    Unclassified,
}

impl Rule {
    /// The rule's stable identifier, as used in `split` output and the docs.
    pub fn id(self) -> &'static str {
        match self {
            Rule::Crd => "crd",
            Rule::AggregateRole => "aggregate-role",
            Rule::SystemNamespace => "system-namespace",
            Rule::Webhook => "webhook",
            Rule::WebhookSharedOnly => "webhook-shared-only",
            Rule::AdmissionConfiguration => "admission-configuration",
            Rule::AdmissionOwned => "admission-owned",
            Rule::AdmissionHardcodedNames => "admission-hardcoded-names",
            Rule::Controller => "controller",
            Rule::EventsController => "events-controller",
            Rule::Resolvers => "resolvers",
            Rule::Config => "config",
            Rule::PodSecurityPolicy => "pod-security-policy",
            Rule::LegacyCrdApi => "legacy-crd-api",
            Rule::Duplicate => "duplicate",
            Rule::Unclassified => "unclassified",
        }
    }

    /// One line saying why the rule exists.
    pub fn reason(self) -> &'static str {
        match self {
            Rule::Crd => {
                "CRDs are cluster-wide: one copy, of the newest version, serves every instance"
            }
            Rule::AggregateRole => {
                "aggregated into the built-in edit/view roles by label: one copy per cluster"
            }
            Rule::SystemNamespace => {
                "becomes the shared namespace and each instance's control-plane namespace"
            }
            Rule::Webhook => {
                "shared copy serves CRD conversion; each instance's copy serves its own admission"
            }
            Rule::WebhookSharedOnly => {
                "no admission of its own for this version: only the shared conversion webhook runs"
            }
            Rule::AdmissionConfiguration => {
                "renamed per instance and limited to its namespace (v0.44+)"
            }
            Rule::AdmissionOwned => {
                "before v0.44: renamed per instance; tkn-multi writes the rules knative would and the caBundle"
            }
            Rule::AdmissionHardcodedNames => {
                "names are hard-coded and the version's admitted types are not recorded: not rendered"
            }
            Rule::Controller => {
                "runs per instance with `-namespace` limited to the watched namespace"
            }
            Rule::EventsController | Rule::Resolvers => {
                "cannot be limited to a namespace: one cluster-wide copy in the shared part"
            }
            Rule::Config => {
                "read by components on both sides; a missing watched ConfigMap stops them"
            }
            Rule::PodSecurityPolicy => {
                "policy/v1beta1 PodSecurityPolicy was removed in Kubernetes 1.25"
            }
            Rule::LegacyCrdApi => {
                "apiextensions.k8s.io/v1beta1 was removed in Kubernetes 1.22 (knative's unused image-cache CRD)"
            }
            Rule::Duplicate => {
                "same kind, namespace and name as an earlier object (upstream packaging bug)"
            }
            Rule::Unclassified => "not recognised by tkn-multi; kept with the instance",
        }
    }
}

/// What happens to one upstream object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Disposition {
    /// The upstream object.
    #[serde(flatten)]
    pub object: ObjectRef,
    /// Where it goes.
    pub part: Part,
    /// Why.
    pub rule: Rule,
}

/// A request the split cannot honour.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The instance's namespaces collide with the shared ones.
    #[error("namespace `{namespace}` of instance `{instance}` is reserved for the shared part")]
    SharedNamespace {
        /// The instance.
        instance: String,
        /// The colliding namespace.
        namespace: String,
    },
}

/// Classifies every object of `release`, in file order.
pub fn classify(release: &Release) -> Vec<Disposition> {
    let caps = Capabilities::of(&release.version);
    let mut seen = HashSet::new();
    release
        .objects
        .iter()
        .map(|o| {
            let object = o.object_ref();
            let (part, rule) = if seen.insert(object.clone()) {
                place(o, &caps)
            } else {
                (Part::Dropped, Rule::Duplicate)
            };
            Disposition { object, part, rule }
        })
        .collect()
}

/// Which Tekton component an object belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Component {
    Crd,
    LegacyCrd,
    Aggregate,
    Psp,
    SystemNamespace,
    Admission,
    Webhook,
    Controller,
    Events,
    Resolvers,
    Config,
    Unknown,
}

pub(super) fn component(o: &Object) -> Component {
    let kind = o.kind();
    let is_aggregate = || {
        o.metadata().get("labels").and_then(|l| l.as_object()).is_some_and(|l| {
            l.keys().any(|k| k.starts_with("rbac.authorization.k8s.io/aggregate-to-"))
        })
    };
    match kind {
        // Only v0.22.0 has one: knative's `images.caching.internal.knative.dev`, which no Tekton
        // role grants, so nothing uses it.
        "CustomResourceDefinition" if o.api_version() == "apiextensions.k8s.io/v1beta1" => {
            return Component::LegacyCrd;
        }
        "CustomResourceDefinition" => return Component::Crd,
        "PodSecurityPolicy" => return Component::Psp,
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
            return Component::Admission;
        }
        "ClusterRole" if is_aggregate() => return Component::Aggregate,
        "Namespace" if o.name() == UPSTREAM_NAMESPACE => return Component::SystemNamespace,
        "Namespace" if o.name() == UPSTREAM_RESOLVERS_NAMESPACE => return Component::Resolvers,
        _ => {}
    }
    if o.namespace() == Some(UPSTREAM_RESOLVERS_NAMESPACE) {
        return Component::Resolvers;
    }
    if kind == "ConfigMap" && o.namespace() == Some(UPSTREAM_NAMESPACE) {
        return Component::Config;
    }
    match o.label("app.kubernetes.io/component") {
        Some("resolvers") => return Component::Resolvers,
        Some("events") => return Component::Events,
        Some("webhook") => return Component::Webhook,
        Some("controller") => return Component::Controller,
        _ => {}
    }
    // Support RBAC without a component label: the leader-election Role both sides bind to, and
    // `tekton-pipelines-info` (v0.25+), which lets any user read `pipelines-info`.
    if matches!(kind, "Role" | "RoleBinding") && o.namespace() == Some(UPSTREAM_NAMESPACE) {
        return Component::Config;
    }
    Component::Unknown
}

pub(super) fn place(o: &Object, caps: &Capabilities) -> (Part, Rule) {
    match component(o) {
        Component::Crd => (Part::Shared, Rule::Crd),
        Component::LegacyCrd => (Part::Dropped, Rule::LegacyCrdApi),
        Component::Aggregate => (Part::Shared, Rule::AggregateRole),
        Component::Psp => (Part::Dropped, Rule::PodSecurityPolicy),
        Component::SystemNamespace => (Part::Both, Rule::SystemNamespace),
        Component::Admission if caps.admission_name_env => {
            (Part::Both, Rule::AdmissionConfiguration)
        }
        Component::Admission if caps.owned_admission => (Part::Instance, Rule::AdmissionOwned),
        Component::Admission => (Part::Dropped, Rule::AdmissionHardcodedNames),
        Component::Webhook if caps.instance_admission() => (Part::Both, Rule::Webhook),
        Component::Webhook => (Part::Shared, Rule::WebhookSharedOnly),
        Component::Controller => (Part::Instance, Rule::Controller),
        Component::Events => (Part::Shared, Rule::EventsController),
        Component::Resolvers => (Part::Shared, Rule::Resolvers),
        Component::Config => (Part::Both, Rule::Config),
        Component::Unknown => (Part::Instance, Rule::Unclassified),
    }
}

pub(super) fn selected(release: &Release, side: Part) -> impl Iterator<Item = (&Object, Rule)> {
    release
        .objects
        .iter()
        .zip(classify(release))
        .filter_map(move |(o, d)| (d.part == side || d.part == Part::Both).then_some((o, d.rule)))
}

/// Renders the shared part of `release`.
pub fn shared_part(release: &Release, spec: &SharedSpec) -> Vec<Object> {
    let target = super::side::Side::shared(release, spec);
    let objects =
        selected(release, Part::Shared).map(|(o, rule)| target.rewrite(o, rule)).collect();
    finish(target.finish(objects))
}

/// Renders the instance part of `release` for `spec`.
pub fn instance_part(
    release: &Release,
    spec: &InstanceSpec,
    shared: &SharedSpec,
) -> Result<Vec<Object>, Error> {
    let shared_resolvers = shared.resolvers_namespace();
    for ns in [&spec.namespace, &spec.control_plane_namespace] {
        if ns == &shared.namespace || ns.as_str() == shared_resolvers {
            return Err(Error::SharedNamespace {
                instance: spec.name.to_string(),
                namespace: ns.to_string(),
            });
        }
    }
    let target = super::side::Side::instance(release, spec);
    let objects =
        selected(release, Part::Instance).map(|(o, rule)| target.rewrite(o, rule)).collect();
    Ok(finish(target.finish(objects)))
}

/// Sorts objects into apply order, deterministically: namespaces and CRDs first, webhook
/// configurations last, ties by namespace and name.
pub(super) fn finish(mut objects: Vec<Object>) -> Vec<Object> {
    objects.sort_by(|a, b| {
        (crate::managed::rank(a.kind()), a.namespace(), a.name()).cmp(&(
            crate::managed::rank(b.kind()),
            b.namespace(),
            b.name(),
        ))
    });
    objects.dedup_by(|a, b| a.object_ref() == b.object_ref());
    objects
}
