//! Operator mode, so far: the generated `TektonFleet` CRD on the real API server. Its schema
//! accepts what the fleet file accepts and refuses what the fleet file refuses, and a stored
//! `TektonFleet` reads back as the fleet file's desired state.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

use crate::cluster::{CLUSTER, client, kubeconfig, wait_until};
use tkn_multi::operator::TektonFleet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tektonfleet_crd_is_served_and_its_schema_is_the_fleet_files() {
    let Some(path) = kubeconfig() else { return };
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let c = client(&path).await;
    let crd: CustomResourceDefinition = tkn_multi::yaml::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/manifests/crd.yaml"))
            .unwrap(),
    )
    .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    crds.patch(
        "tektonfleets.tkn-multi.tekton.dev",
        &PatchParams::apply("tkn-multi-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    wait_until("the TektonFleet CRD Established", Duration::from_secs(60), || {
        let crds = crds.clone();
        async move {
            crds.get("tektonfleets.tkn-multi.tekton.dev")
                .await
                .ok()
                .and_then(|c| c.status)
                .and_then(|s| s.conditions)
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"))
        }
    })
    .await;
    let fleets: Api<TektonFleet> = Api::all(c.clone());
    let name = crate::cluster::unique("tkf");
    let make = |spec: serde_json::Value| -> TektonFleet {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "tkn-multi.tekton.dev/v1alpha1", "kind": "TektonFleet",
            "metadata": {"name": name}, "spec": spec,
        }))
        .unwrap()
    };
    // The API server refuses what the fleet file refuses (a name that is not a DNS label, an
    // unknown shared mode, a version that is not vX.Y.Z), before anything stores it.
    for (bad, says) in [
        (serde_json::json!({"name": "Team_A", "version": "v0.50.3"}), "spec.instances[0].name"),
        (serde_json::json!({"name": "team-a", "version": "0.50"}), "spec.instances[0].version"),
    ] {
        let raw = serde_json::json!({
            "apiVersion": "tkn-multi.tekton.dev/v1alpha1", "kind": "TektonFleet",
            "metadata": {"name": name}, "spec": {"instances": [bad]},
        });
        let dynamic =
            crate::cluster::dynamic_api(&c, "tkn-multi.tekton.dev/v1alpha1", "TektonFleet", None)
                .await;
        let obj: kube::api::DynamicObject = serde_json::from_value(raw).unwrap();
        let e = dynamic.create(&PostParams::default(), &obj).await.unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }
    let dynamic =
        crate::cluster::dynamic_api(&c, "tkn-multi.tekton.dev/v1alpha1", "TektonFleet", None).await;
    let obj: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "tkn-multi.tekton.dev/v1alpha1", "kind": "TektonFleet",
        "metadata": {"name": name}, "spec": {"shared": {"mode": "sometimes"}},
    }))
    .unwrap();
    let e = dynamic.create(&PostParams::default(), &obj).await.unwrap_err();
    assert!(e.to_string().contains("spec.shared.mode"), "{e}");
    // A good one is stored with the schema's defaults, and reads back as the desired state the
    // same fleet file gives.
    let f = make(serde_json::json!({"instances": [
        {"name": "team-a", "version": "v0.50.3", "config": {"feature-flags": {"enable-api-fields": "beta"}}},
        {"name": "team-b", "version": "v1.9.0", "namespace": "builds"},
    ]}));
    fleets.create(&PostParams::default(), &f).await.unwrap();
    let stored = fleets.get(&name).await.unwrap();
    assert_eq!(stored.spec.fleet.shared.update, tkn_multi::plan::UpdateShared::IfOlder);
    let from_resource = stored.spec.fleet.desired().unwrap();
    let file = "apiVersion: tkn-multi.tekton.dev/v1alpha1\nkind: Fleet\ninstances:\n- {name: team-a, version: v0.50.3, config: {feature-flags: {enable-api-fields: beta}}}\n- {name: team-b, version: v1.9.0, namespace: builds}\n";
    assert_eq!(from_resource, tkn_multi::plan::fleet::parse_fleet(file, "f").unwrap());
    fleets.delete(&name, &DeleteParams::default()).await.unwrap();
    let _ = crds.delete("tektonfleets.tkn-multi.tekton.dev", &DeleteParams::default()).await;
}
