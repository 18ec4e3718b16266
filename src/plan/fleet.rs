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

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Desired, DesiredInstance, SharedMode, SharedPolicy, UpdateShared};
use crate::names::{InstanceName, NamespaceName, default_control_plane_namespace};
use crate::release::TektonVersion;
use crate::split::{DEFAULT_SHARED_NAMESPACE, InstanceSpec, SharedSpec};
use crate::yaml;

/// The `apiVersion` of a fleet file.
pub const FLEET_API_VERSION: &str = "tkn-multi.tekton.dev/v1alpha1";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FleetFile {
    api_version: String,
    kind: String,
    #[serde(default)]
    shared: SharedSection,
    #[serde(default)]
    instances: Vec<FleetInstance>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SharedSection {
    namespace: Option<NamespaceName>,
    #[serde(default)]
    mode: SharedMode,
    #[serde(default)]
    update: UpdateShared,
    #[serde(default)]
    keep_on_uninstall: bool,
    #[serde(default)]
    downgrade: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FleetInstance {
    name: InstanceName,
    version: TektonVersion,
    namespace: Option<NamespaceName>,
    control_plane_namespace: Option<NamespaceName>,
    #[serde(default)]
    config: BTreeMap<String, BTreeMap<String, String>>,
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
        "fleet file `{origin}` is `{api_version}`/`{kind}`, expected `{FLEET_API_VERSION}`/`Fleet`"
    )]
    WrongKind {
        /// The file.
        origin: String,
        /// Its apiVersion.
        api_version: String,
        /// Its kind.
        kind: String,
    },
}

/// Parses a fleet file into the desired state (every instance in scope).
pub fn parse_fleet(text: &str, origin: &str) -> Result<Desired, Error> {
    let f: FleetFile =
        yaml::from_str(text).map_err(|source| Error::Invalid { origin: origin.into(), source })?;
    if f.api_version != FLEET_API_VERSION || f.kind != "Fleet" {
        return Err(Error::WrongKind {
            origin: origin.into(),
            api_version: f.api_version,
            kind: f.kind,
        });
    }
    let shared = SharedSpec {
        namespace: f.shared.namespace.unwrap_or_else(|| {
            DEFAULT_SHARED_NAMESPACE.parse().expect("the default is a valid name")
        }),
    };
    let instances = f
        .instances
        .into_iter()
        .map(|i| {
            let namespace = i.namespace.unwrap_or_else(|| {
                i.name.as_str().parse().expect("an instance name is a valid namespace name")
            });
            let control_plane_namespace = i
                .control_plane_namespace
                .unwrap_or_else(|| default_control_plane_namespace(&i.name));
            DesiredInstance {
                spec: InstanceSpec {
                    name: i.name,
                    namespace,
                    control_plane_namespace,
                    admission_ca: None,
                },
                version: i.version,
                config: i.config,
            }
        })
        .collect();
    let policy = SharedPolicy {
        mode: f.shared.mode,
        update: f.shared.update,
        keep_on_uninstall: f.shared.keep_on_uninstall,
        downgrade: f.shared.downgrade,
    };
    Ok(Desired { shared, policy, instances, scope: None, certificates: BTreeMap::new() })
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
            "fleet file `f` is `v1`/`ConfigMap`, expected `tkn-multi.tekton.dev/v1alpha1`/`Fleet`"
        );
    }
}
