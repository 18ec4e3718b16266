//! The ordering rules: every edge of the plan graph names one. **Pure.**
//!
//! This enum is the whole contract of step order; docs/architecture.md's table is generated from
//! it ([`markdown_table`], kept current by a drift test).

use std::fmt::Write as _;

use serde::Serialize;

/// An ordering rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Order {
    /// A Namespace before every object in it; deleted after them.
    NamespaceFirst,
    /// A CRD, then its Established wait, before the Deployments.
    CrdEstablished,
    /// The shared webhook Available before the CRDs that convert through it.
    ConversionReady,
    /// An owner's service accounts, RBAC, config and Services before its Deployments.
    ConfigBeforeWorkloads,
    /// An owner's webhook Available before its webhook configurations.
    WebhookBeforeAdmission,
    /// Before v0.44: an instance's certificate written after its `webhook-certs` Secret, before
    /// its webhook and its webhook configurations.
    CertificateFirst,
    /// A Deployment before its Available wait.
    DeploymentAvailable,
    /// On delete, an owner's webhook configurations before the rest of it.
    AdmissionFirstOnDelete,
    /// On delete, the instances before the shared layer.
    SharedBeforeInstances,
    /// On delete, CRDs after everything else.
    CrdsDeletedLast,
    /// On delete, the shared webhook after the CRDs.
    ConversionOutlivesCrds,
    /// A stored-version migration before the CRD update that drops the version, else after the
    /// CRD is Established.
    MigrateBeforeUnserve,
}

impl Order {
    /// Every rule, in the documented order.
    pub const ALL: [Order; 12] = [
        Order::NamespaceFirst,
        Order::CrdEstablished,
        Order::ConversionReady,
        Order::ConfigBeforeWorkloads,
        Order::WebhookBeforeAdmission,
        Order::CertificateFirst,
        Order::DeploymentAvailable,
        Order::AdmissionFirstOnDelete,
        Order::SharedBeforeInstances,
        Order::CrdsDeletedLast,
        Order::ConversionOutlivesCrds,
        Order::MigrateBeforeUnserve,
    ];

    /// The name plans print (`dependsOn[].rule`).
    pub fn id(self) -> &'static str {
        match self {
            Order::NamespaceFirst => "namespace-first",
            Order::CrdEstablished => "crd-established",
            Order::ConversionReady => "conversion-ready",
            Order::ConfigBeforeWorkloads => "config-before-workloads",
            Order::WebhookBeforeAdmission => "webhook-before-admission",
            Order::CertificateFirst => "certificate-first",
            Order::DeploymentAvailable => "deployment-available",
            Order::AdmissionFirstOnDelete => "admission-first-on-delete",
            Order::SharedBeforeInstances => "shared-before-instances",
            Order::CrdsDeletedLast => "crds-deleted-last",
            Order::ConversionOutlivesCrds => "conversion-outlives-crds",
            Order::MigrateBeforeUnserve => "migrate-before-unserve",
        }
    }

    /// Which steps the rule connects.
    pub fn edge(self) -> &'static str {
        match self {
            Order::NamespaceFirst => "Namespace → every object in it (reversed on delete)",
            Order::CrdEstablished => {
                "CRD → its Established wait → every Deployment except the shared webhook"
            }
            Order::ConversionReady => "shared webhook Available → CRDs applied",
            Order::ConfigBeforeWorkloads => {
                "ServiceAccounts, RBAC, ConfigMaps, Secrets, Services → the owner's Deployments"
            }
            Order::WebhookBeforeAdmission => {
                "the owner's webhook Available → its webhook configurations"
            }
            Order::CertificateFirst => {
                "before v0.44: the `webhook-certs` Secret → the certificate → the webhook and its configurations"
            }
            Order::DeploymentAvailable => "Deployment → its Available wait",
            Order::AdmissionFirstOnDelete => {
                "an owner's webhook configurations deleted → its other deletes"
            }
            Order::SharedBeforeInstances => "instance deletes → shared deletes",
            Order::CrdsDeletedLast => "every other delete → CRD deletes",
            Order::ConversionOutlivesCrds => "CRD deletes → shared webhook delete",
            Order::MigrateBeforeUnserve => {
                "CRD Established → migration (or migration → CRD, when the new CRD drops the stored version)"
            }
        }
    }

    /// Why the order matters.
    pub fn why(self) -> &'static str {
        match self {
            Order::NamespaceFirst => {
                "namespaced objects cannot be created in a missing namespace; deleting the namespace first would delete them uncontrolled"
            }
            Order::CrdEstablished => {
                "controllers open informers on the CRDs at start-up and wait for them to sync"
            }
            Order::ConversionReady => {
                "a CRD that converts through a webhook must find it running when the API server converts; the new webhook must know the new versions before the CRDs switch storage"
            }
            Order::ConfigBeforeWorkloads => {
                "pods fail to start without their SA and mounted ConfigMaps, and knative's config watchers fail on missing ConfigMaps"
            }
            Order::WebhookBeforeAdmission => {
                "with `failurePolicy: Fail` every admission call in the namespace fails while the webhook is down"
            }
            Order::CertificateFirst => {
                "knative writes a certificate of its own into an empty Secret, which no caBundle trusts; configurations without a trusted certificate fail every admission call"
            }
            Order::DeploymentAvailable => "progress and `--timeout`",
            Order::AdmissionFirstOnDelete => {
                "otherwise writes in the namespace fail while its webhook terminates"
            }
            Order::SharedBeforeInstances => "the shared layer outlives every instance",
            Order::CrdsDeletedLast => {
                "deleting a CRD deletes its objects: last, and only with no instance left"
            }
            Order::ConversionOutlivesCrds => {
                "reads of non-storage versions need the conversion webhook until the CRDs are gone"
            }
            Order::MigrateBeforeUnserve => {
                "Kubernetes refuses to drop a version still in `status.storedVersions`"
            }
        }
    }
}

impl std::fmt::Display for Order {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl Serialize for Order {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// The rule table of docs/architecture.md.
pub fn markdown_table() -> String {
    let mut out = String::from("| rule | edge | why |\n| --- | --- | --- |\n");
    for o in Order::ALL {
        let _ = writeln!(out, "| `{}` | {} | {} |", o.id(), o.edge(), o.why());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_all_is_complete() {
        let ids: std::collections::BTreeSet<_> = Order::ALL.iter().map(|o| o.id()).collect();
        assert_eq!(ids.len(), Order::ALL.len());
    }
}
