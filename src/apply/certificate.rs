//! The certificate step (instances before v0.44): stores a new CA if the plan made one, and
//! signs a new serving certificate into `webhook-certs`. **I/O.**

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};

use crate::tls;
use crate::tls::NewCa;

async fn write_secret(
    secrets: &Api<Secret>,
    namespace: &str,
    name: &str,
    labels: BTreeMap<String, String>,
    data: &BTreeMap<&str, &str>,
) -> anyhow::Result<()> {
    // The typed Secret: k8s-openapi encodes `data` (base64) and writes apiVersion and kind.
    let body = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    };
    // Forced: knative's certificate reconciler may have written the data first (with Update);
    // these keys are tkn-multi's.
    let params = PatchParams::apply(tls::FIELD_MANAGER).force();
    secrets
        .patch(name, &params, &Patch::Apply(&body))
        .await
        .with_context(|| format!("cannot write Secret {namespace}/{name}"))?;
    Ok(())
}

/// Carries out one certificate step for `owner`'s webhook in `namespace`.
pub(super) async fn write(
    client: &Client,
    namespace: &str,
    owner: &str,
    new_ca: Option<&NewCa>,
) -> anyhow::Result<()> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let (ca_cert, ca_key) = if let Some(ca) = new_ca {
        let mut data = BTreeMap::from([
            (tls::CA_CERT, ca.cert_pem.as_str()),
            (tls::CA_KEY, ca.key_pem.as_str()),
        ]);
        if let Some(p) = &ca.previous_cert_pem {
            data.insert(tls::PREVIOUS_CA_CERT, p);
        }
        let labels = BTreeMap::from([(tls::CA_LABEL.to_owned(), owner.to_owned())]);
        write_secret(&secrets, namespace, crate::managed::WEBHOOK_CA_SECRET, labels, &data).await?;
        (ca.cert_pem.clone(), ca.key_pem.clone())
    } else {
        let stored = crate::cluster::secret_data(&secrets, crate::managed::WEBHOOK_CA_SECRET)
            .await?
            .unwrap_or_default();
        let (Some(c), Some(k)) = (stored.get(tls::CA_CERT), stored.get(tls::CA_KEY)) else {
            bail!(
                "Secret {namespace}/{} has no CA certificate and key; run `tkn-multi rotate-certs {owner} --ca`",
                crate::managed::WEBHOOK_CA_SECRET
            );
        };
        (c.clone(), k.clone())
    };
    // During a CA rotation the serving certificate signed by the previous CA stays while it is
    // good (both CAs are trusted); the next run signs one with the new CA.
    if let Some(previous) = new_ca.and_then(|c| c.previous_cert_pem.as_ref()) {
        let serving =
            crate::cluster::secret_data(&secrets, crate::managed::WEBHOOK_CERTS_SECRET).await?;
        let old_ca = BTreeMap::from([
            (tls::CA_CERT.to_owned(), previous.clone()),
            (tls::CA_KEY.to_owned(), String::new()),
        ]);
        let facts = tls::inspect(Some(&old_ca), serving.as_ref(), namespace);
        let keep = facts
            .is_some_and(|f| tls::serving_due(&f, tls::now(), tls::Force::default()).is_none());
        if keep {
            return Ok(());
        }
    }
    let (cert, key) = tls::issue_serving(&ca_cert, &ca_key, namespace)?;
    let data = BTreeMap::from([
        (tls::SERVER_CERT, cert.as_str()),
        (tls::SERVER_KEY, key.as_str()),
        (tls::CA_CERT, ca_cert.as_str()),
    ]);
    let labels = BTreeMap::new();
    write_secret(&secrets, namespace, crate::managed::WEBHOOK_CERTS_SECRET, labels, &data).await
}
