//! The declarative fleet files of `tkn-multi apply -f` and `render -f`. **Pure.** [`schema`]
//! (the two apiVersions), [`placement`] (which clusters), [`members`] (each cluster's desired
//! state).
//!
//! v1alpha1, one cluster:
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
//!
//! v1alpha2 adds clusters, `KubeFed`'s placement and per-cluster overrides (docs/fleets.md; the
//! whole example is `docs/examples/fleet-two-clusters.yaml`):
//!
//! ```yaml
//! apiVersion: tkn-multi.tekton.dev/v1alpha2
//! kind: Fleet
//! clusters:
//! - {name: east, context: east, labels: {tier: prod}}
//! - {name: west, context: west, labels: {tier: prod}, imageRegistry: mirror.west.example.com/tekton}
//! instances:
//! - name: build
//!   version: v0.56.0
//!   placement: {clusterSelector: {matchLabels: {tier: prod}}}   # or clusters: [east]
//!   overrides:
//!   - clusters: [east]
//!     deployments: {tekton-pipelines-controller: {replicas: 2}}
//! ```

pub mod members;
pub mod placement;
pub mod promote;
pub mod schema;

mod error;

pub use error::Error;
pub use members::{Fleet, Member, Stage, parse, parse_fleet};
pub use schema::{
    ClusterEntry, FLEET_API_VERSION, FLEET_V1ALPHA2, FleetInstance, FleetSpec, Gate, SharedSection,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Desired;

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
    fn the_stages_example_puts_each_cluster_in_its_stage_with_its_version() {
        let text = include_str!("../../../../docs/examples/fleet-stages.yaml");
        let m = clusters(text);
        let stage = |c: &str| {
            let s = m.iter().find(|m| m.cluster.name.as_str() == c).unwrap().stage.clone().unwrap();
            (s.name.to_string(), s.index, s.gate.smoke)
        };
        assert_eq!(stage("east"), ("dev".to_owned(), 0, true));
        assert_eq!(stage("west"), ("prod".to_owned(), 1, false));
        let version = |c: &str| on(&m, c).instances[0].version.to_string();
        assert_eq!((version("east"), version("west")), ("v1.15.1".into(), "v0.56.0".into()));
    }

    #[test]
    fn stages_take_each_cluster_once_and_bad_stages_are_errors() {
        let head = "apiVersion: tkn-multi.tekton.dev/v1alpha2\nkind: Fleet\nclusters:\n- {name: a, context: a, labels: {env: dev}}\n- {name: b, context: b, labels: {env: prod}}\n";
        let inst = "instances:\n- {name: x, version: v0.56.0, placement: {clusterSelector: {}}}\n";
        // The first stage that selects a cluster takes it.
        let m = clusters(&format!(
            "{head}stages:\n- {{name: one, clusters: [a]}}\n- {{name: all, clusterSelector: {{}}}}\n{inst}"
        ));
        let names: Vec<(&str, &str)> = m
            .iter()
            .map(|m| (m.cluster.name.as_str(), m.stage.as_ref().unwrap().name.as_str()))
            .collect();
        assert_eq!(names, [("a", "one"), ("b", "all")]);
        // Without stages nothing changes.
        assert!(clusters(&format!("{head}{inst}")).iter().all(|m| m.stage.is_none()));
        let err = |text: String| parse(&text, "f").unwrap_err().to_string();
        assert_eq!(
            err(format!("{head}stages:\n- {{name: dev, clusters: [a]}}\n{inst}")),
            "fleet file `f`: cluster `b` is in no stage (with `stages:`, every cluster must be in one)"
        );
        assert_eq!(
            err(format!(
                "{head}stages:\n- {{name: dev, clusters: [a]}}\n- {{name: dev, clusters: [b]}}\n{inst}"
            )),
            "fleet file `f`: stage `dev` is listed twice"
        );
        assert_eq!(
            err(format!(
                "{head}stages:\n- {{name: dev, clusters: [a, c]}}\n- {{name: prod, clusters: [b]}}\n{inst}"
            )),
            "fleet file `f`: stage `dev` names cluster `c`, which is not in `clusters:` (`a`, `b`)"
        );
        assert_eq!(
            err(format!(
                "{head}stages:\n- {{name: dev, clusterSelector: {{}}}}\n- {{name: prod, clusters: [b]}}\n{inst}"
            )),
            "fleet file `f`: stage `prod` selects no cluster that an earlier stage has not taken"
        );
        assert_eq!(
            err(format!(
                "{head}stages:\n- {{name: dev, clusters: [a]}}\n- {{name: prod, clusters: [b]}}\ninstances:\n- {{name: x, version: v0.56.0, placement: {{clusterSelector: {{}}}}, overrides: [{{stages: [qa], version: v1.9.0}}]}}\n"
            )),
            "fleet file `f`: override 1 of instance `x` names stage `qa`, which is not in `stages:` (`dev`, `prod`)"
        );
        assert_eq!(
            err(format!(
                "{head}instances:\n- {{name: x, version: v0.56.0, placement: {{clusterSelector: {{}}}}, overrides: [{{stages: [dev], version: v1.9.0}}]}}\n"
            )),
            "fleet file `f`: override 1 of instance `x` names `stages`, but the fleet has no `stages:`"
        );
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
                "names no `clusters`, no `clusterSelector` and no `stages`",
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
