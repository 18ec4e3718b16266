//! Identifier newtypes with their validation, and the naming scheme for what tkn-multi creates.
//! **Pure.**
//!
//! Every cluster-scoped object tkn-multi renders gets a name that embeds its owner, so that two
//! instances (or an instance and the shared part) can never collide:
//! `tkn-multi:<owner>:<upstream name>` for RBAC (colons cannot occur in an instance name, so the
//! owner part is unambiguous) and `webhook.<owner>.pipeline.tekton.dev` for admission webhook
//! configurations (an instance name is one DNS label, so it is unambiguous there too).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The owner name reserved for the shared part; no instance may use it.
pub const SHARED_OWNER: &str = "shared";

/// A name that is not a valid identifier of its kind.
#[derive(Debug, thiserror::Error)]
#[error("`{input}` is not a valid {what}: {why}")]
pub struct InvalidName {
    /// What the user wrote.
    pub input: String,
    /// What kind of name it was meant to be.
    pub what: &'static str,
    /// The rule it breaks.
    pub why: String,
}

/// Checks an RFC 1123 DNS label of at most `max` characters.
fn check_dns_label(input: &str, what: &'static str, max: usize) -> Result<(), InvalidName> {
    let err = |why: String| Err(InvalidName { input: input.to_owned(), what, why });
    if input.is_empty() {
        return err("it is empty".into());
    }
    if input.len() > max {
        return err(format!("it is longer than {max} characters"));
    }
    if !input.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return err("only lowercase letters, digits and `-` are allowed".into());
    }
    if input.starts_with('-') || input.ends_with('-') {
        return err("it must start and end with a letter or digit".into());
    }
    Ok(())
}

macro_rules! dns_label_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr, $extra:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The name as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                check_dns_label(s, $what, $max)?;
                let extra: fn(&str) -> Option<String> = $extra;
                if let Some(why) = extra(s) {
                    return Err(InvalidName { input: s.to_owned(), what: $what, why });
                }
                Ok(Self(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidName;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// A DNS label (the `TektonFleet` CRD's schema).
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "maxLength": $max,
                    "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                    "description": concat!("A ", $what, ": a DNS label.")
                })
            }
        }
    };
}

dns_label_newtype!(
    /// The name of one Tekton instance: a DNS label of at most 40 characters, not `shared`.
    ///
    /// 40 leaves room for the derived names (`tekton-<instance>-resolvers` must stay a 63-character
    /// DNS label).
    InstanceName,
    "instance name",
    40,
    |s| (s == SHARED_OWNER).then(|| format!("`{SHARED_OWNER}` is reserved for the shared part"))
);

dns_label_newtype!(
    /// A Kubernetes namespace name: a DNS label of at most 63 characters.
    NamespaceName,
    "namespace name",
    63,
    |_| None
);

dns_label_newtype!(
    /// The name of a cluster in a fleet file: a DNS label of at most 63 characters (it names the
    /// cluster's state file, `<cluster>.yaml`, and its Flux tree).
    ClusterName,
    "cluster name",
    63,
    |_| None
);

dns_label_newtype!(
    /// The name of a rollout stage in a fleet file (`dev`, `prod`): a DNS label of at most 63
    /// characters.
    StageName,
    "stage name",
    63,
    |_| None
);

/// The cluster-scoped RBAC name of upstream object `upstream` owned by `owner`.
pub fn rbac_name(owner: &str, upstream: &str) -> String {
    format!("tkn-multi:{owner}:{upstream}")
}

/// The admission webhook name (`WEBHOOK_ADMISSION_CONTROLLER_NAME`) of `owner`.
pub fn webhook_name(owner: &str) -> String {
    format!("webhook.{owner}.pipeline.tekton.dev")
}

/// The default control-plane namespace of an instance.
pub fn default_control_plane_namespace(instance: &InstanceName) -> NamespaceName {
    format!("tekton-{instance}")
        .parse()
        .expect("a 40-character label plus `tekton-` is a valid label")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_are_dns_labels_and_not_shared() {
        assert!("team-a".parse::<InstanceName>().is_ok());
        for bad in ["", "Team", "a_b", "-a", "a-", "shared", &"x".repeat(41)] {
            assert!(bad.parse::<InstanceName>().is_err(), "{bad:?} should be rejected");
        }
        let e = "shared".parse::<InstanceName>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "`shared` is not a valid instance name: `shared` is reserved for the shared part"
        );
    }

    #[test]
    fn derived_names() {
        let i: InstanceName = "team-a".parse().unwrap();
        assert_eq!(default_control_plane_namespace(&i).as_str(), "tekton-team-a");
        assert_eq!(rbac_name("team-a", "x"), "tkn-multi:team-a:x");
        assert_eq!(webhook_name("team-a"), "webhook.team-a.pipeline.tekton.dev");
    }
}
