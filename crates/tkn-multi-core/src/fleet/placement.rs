//! `KubeFed`'s placement: which clusters an instance, or one of its overrides, goes to — cluster
//! names, else a Kubernetes label selector over the clusters' labels. **Pure.**

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::names::ClusterName;

/// `KubeFed`'s placement: cluster names, or when none are given, a label selector.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ClusterTarget {
    pub(crate) clusters: Option<Vec<ClusterName>>,
    pub(crate) cluster_selector: Option<LabelSelector>,
}

impl ClusterTarget {
    /// Which of `clusters` (each a name and its labels) this names: `KubeFed`'s rule, names win
    /// over the selector; `clusters: []` is none, a selector `{}` every cluster.
    pub(crate) fn select<'a>(
        &self,
        clusters: impl IntoIterator<Item = (&'a ClusterName, &'a BTreeMap<String, String>)>,
        whose: &str,
    ) -> Result<BTreeSet<ClusterName>, String> {
        let clusters: Vec<_> = clusters.into_iter().collect();
        if let Some(names) = &self.clusters {
            return Ok(names
                .iter()
                .filter(|n| clusters.iter().any(|(c, _)| c == n))
                .cloned()
                .collect());
        }
        let Some(sel) = &self.cluster_selector else { return Ok(BTreeSet::new()) };
        let mut out = BTreeSet::new();
        for (name, labels) in clusters {
            if sel.matches(labels).map_err(|why| format!("{whose}: {why}"))? {
                out.insert(name.clone());
            }
        }
        Ok(out)
    }
}

/// A Kubernetes label selector.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LabelSelector {
    #[serde(default)]
    pub(crate) match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) match_expressions: Vec<Requirement>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Requirement {
    pub(crate) key: String,
    pub(crate) operator: Operator,
    #[serde(default)]
    pub(crate) values: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    /// Whether `labels` match: kube-core's [`Selector`](kube_core::Selector) does the matching
    /// (Kubernetes' rules, `NotIn` matching a missing key). The checks before it are the API
    /// server's, which kube-core does not make: `In`/`NotIn` need values, `Exists`/`DoesNotExist`
    /// take none (kube-core would accept `In: []`, which selects nothing, and ignore the values).
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> Result<bool, String> {
        use kube_core::{Selector, SelectorExt as _};
        for r in &self.match_expressions {
            match (r.operator, r.values.is_empty()) {
                (Operator::In | Operator::NotIn, true) => {
                    return Err(format!("`{:?}` on `{}` needs `values`", r.operator, r.key));
                }
                (Operator::Exists | Operator::DoesNotExist, false) => {
                    return Err(format!("`{:?}` on `{}` takes no `values`", r.operator, r.key));
                }
                _ => {}
            }
        }
        let selector = Selector::try_from(self.to_metav1()).map_err(|e| e.to_string())?;
        Ok(selector.matches(labels))
    }

    fn to_metav1(&self) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
        meta::LabelSelector {
            match_labels: Some(self.match_labels.clone()),
            match_expressions: Some(
                self.match_expressions
                    .iter()
                    .map(|r| meta::LabelSelectorRequirement {
                        key: r.key.clone(),
                        operator: format!("{:?}", r.operator),
                        values: Some(r.values.clone()),
                    })
                    .collect(),
            ),
        }
    }
}
