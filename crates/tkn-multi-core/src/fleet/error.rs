//! A fleet file that cannot be used. **Pure.**

use super::schema::{FLEET_API_VERSION, FLEET_V1ALPHA2};
use crate::names::ClusterName;
use crate::yaml;

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
        source: Box<crate::plan::Error>,
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
        source: Box<crate::plan::Error>,
    },
}
