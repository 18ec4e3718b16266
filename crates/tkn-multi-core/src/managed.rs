//! What tkn-multi writes on the objects it manages, and which kinds those are. **Pure**, one home
//! for facts the splitter, the planner, the observer and the executor all read.

/// Label: which tool manages the object.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Label value of [`LABEL_MANAGED_BY`].
pub const MANAGER: &str = "tkn-multi";
/// Label: `shared` or `instance`.
pub const LABEL_PART: &str = "tkn-multi.tekton.dev/part";
/// Label: the instance an object belongs to (instance part only).
pub const LABEL_INSTANCE: &str = "tkn-multi.tekton.dev/instance";
/// Label: the Tekton version the object was rendered from.
pub const LABEL_VERSION: &str = "tkn-multi.tekton.dev/tekton-version";
/// Annotation on objects that uninstall must leave in place (the user's watched namespace).
pub const ANNOTATION_RETAIN: &str = "tkn-multi.tekton.dev/retain";
/// Annotation: hash of the content tkn-multi applied.
pub const ANNOTATION_HASH: &str = "tkn-multi.tekton.dev/applied-hash";
/// On an instance's `feature-flags` `ConfigMap`: the flags kept at their pre-upgrade values
/// (`--keep-defaults`), as a JSON object of key → value.
pub const ANNOTATION_KEPT_DEFAULTS: &str = "tkn-multi.tekton.dev/kept-defaults";
/// Annotation: hash of the immutable fields tkn-multi applied.
pub const ANNOTATION_IMMUTABLE_HASH: &str = "tkn-multi.tekton.dev/immutable-hash";
/// The Secret knative's webhook serves from (`WEBHOOK_SECRET_NAME` in every release); before
/// v0.44 tkn-multi writes its data.
pub const WEBHOOK_CERTS_SECRET: &str = "webhook-certs";
/// The Secret of an instance's webhook CA, before v0.44 (control-plane namespace). It carries
/// no managed-by label: the plan never diffs or deletes it; it goes with its namespace.
pub const WEBHOOK_CA_SECRET: &str = "tkn-multi-webhook-ca";

/// A kind tkn-multi creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// The version tkn-multi reads and writes.
    pub version: &'static str,
    /// The kind.
    pub kind: &'static str,
    /// Served cluster-scoped.
    pub cluster_scoped: bool,
    /// An owner's Deployments need it first (`config-before-workloads`).
    pub before_workloads: bool,
}

const fn kind(group: &'static str, version: &'static str, kind: &'static str) -> Kind {
    Kind { group, version, kind, cluster_scoped: false, before_workloads: false }
}

const fn cluster(mut k: Kind) -> Kind {
    k.cluster_scoped = true;
    k
}

const fn prerequisite(mut k: Kind) -> Kind {
    k.before_workloads = true;
    k
}

/// Every kind tkn-multi creates, in apply order (the planner's tie-break: [`rank`]).
pub const KINDS: &[Kind] = &[
    cluster(kind("", "v1", "Namespace")),
    cluster(kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition")),
    prerequisite(kind("", "v1", "ServiceAccount")),
    prerequisite(cluster(kind("rbac.authorization.k8s.io", "v1", "ClusterRole"))),
    prerequisite(kind("rbac.authorization.k8s.io", "v1", "Role")),
    prerequisite(cluster(kind("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"))),
    prerequisite(kind("rbac.authorization.k8s.io", "v1", "RoleBinding")),
    prerequisite(kind("", "v1", "ConfigMap")),
    prerequisite(kind("", "v1", "Secret")),
    prerequisite(kind("", "v1", "Service")),
    kind("apps", "v1", "Deployment"),
    kind("autoscaling", "v2", "HorizontalPodAutoscaler"),
    cluster(kind("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration")),
    cluster(kind("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration")),
];

/// The managed kind `kind`, if it is one.
pub fn find(kind: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.kind == kind)
}

/// The position of a kind in apply order; kinds tkn-multi does not manage come last.
pub fn rank(kind: &str) -> u8 {
    KINDS
        .iter()
        .position(|k| k.kind == kind)
        .map_or(20, |p| u8::try_from(p).expect("fewer than 256 kinds"))
}

impl Kind {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_the_list_and_unknown_kinds_come_last() {
        assert_eq!(rank("Namespace"), 0);
        assert!(rank("CustomResourceDefinition") < rank("ServiceAccount"));
        assert!(rank("Deployment") < rank("MutatingWebhookConfiguration"));
        assert_eq!(rank("ClusterTask"), 20);
        assert_eq!(find("Deployment").unwrap().api_version(), "apps/v1");
        assert_eq!(find("ConfigMap").unwrap().api_version(), "v1");
    }
}
