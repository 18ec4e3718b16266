//! The webhook certificates of instances before v0.44: the facts and decisions are the core's
//! ([`tkn_multi_core::tls`], re-exported); this **shell** part makes keys (rcgen, ring's system
//! random) and reads the clock.

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

pub use tkn_multi_core::tls::*;

/// A new CA for `owner`; `previous` (the current CA certificate) stays trusted.
pub fn generate_ca(owner: &str, previous: Option<String>) -> anyhow::Result<NewCa> {
    let key = KeyPair::generate().context("cannot generate a CA key")?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, format!("tkn-multi webhook CA of {owner}"));
    params.distinguished_name.push(DnType::OrganizationName, "tkn-multi");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(CA_DAYS);
    let cert = params.self_signed(&key).context("cannot sign the CA certificate")?;
    Ok(NewCa { cert_pem: cert.pem(), key_pem: key.serialize_pem(), previous_cert_pem: previous })
}

/// A serving certificate and key for the webhook in `namespace`, signed by the CA.
pub fn issue_serving(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    namespace: &str,
) -> anyhow::Result<(String, String)> {
    let ca_key = KeyPair::from_pem(ca_key_pem).context("the stored CA key does not parse")?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key)
        .context("the stored CA certificate does not parse")?;
    let key = KeyPair::generate().context("cannot generate a serving key")?;
    let mut params = CertificateParams::new(dns_names(namespace))?;
    params.distinguished_name.push(DnType::CommonName, format!("{SERVICE}.{namespace}.svc"));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(SERVING_DAYS);
    let cert = params.signed_by(&key, &issuer).context("cannot sign the serving certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The current time.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn secrets(ca: &NewCa, ns: &str) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        let (cert, key) = issue_serving(&ca.cert_pem, &ca.key_pem, ns).unwrap();
        let mut c = BTreeMap::from([
            (CA_CERT.to_owned(), ca.cert_pem.clone()),
            (CA_KEY.to_owned(), ca.key_pem.clone()),
        ]);
        if let Some(p) = &ca.previous_cert_pem {
            c.insert(PREVIOUS_CA_CERT.to_owned(), p.clone());
        }
        let s = BTreeMap::from([(SERVER_CERT.to_owned(), cert), (SERVER_KEY.to_owned(), key)]);
        (c, s)
    }

    fn pem_der(pem: &str) -> Vec<u8> {
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap().1.contents
    }

    #[test]
    fn a_fresh_pair_is_current_for_its_service_and_not_due() {
        let ca = generate_ca("a", None).unwrap();
        let (c, s) = secrets(&ca, "tekton-a");
        let o = inspect(Some(&c), Some(&s), "tekton-a").unwrap();
        assert!(o.serving_current, "{o:?}");
        assert_eq!(o.ca_bundle.matches("BEGIN CERTIFICATE").count(), 1);
        assert_eq!(due(Some(&o), now(), Force::default()), None);
        assert!(due(Some(&o), now(), Force { serving: true, ca: false }).is_some_and(|d| !d.1));
        // In 300 days the serving certificate has less than 90 days left.
        let (why, new_ca) = due(Some(&o), now() + Duration::days(300), Force::default()).unwrap();
        assert!(why.contains("serving certificate expires") && !new_ca, "{why}");
        // In ten years the CA too.
        assert!(due(Some(&o), now() + Duration::days(3600), Force::default()).unwrap().1);
    }

    #[test]
    fn a_certificate_for_another_namespace_or_ca_is_not_current() {
        let ca = generate_ca("a", None).unwrap();
        let (c, s) = secrets(&ca, "tekton-b");
        assert!(!inspect(Some(&c), Some(&s), "tekton-a").unwrap().serving_current);
        let other = generate_ca("a", Some(ca.cert_pem.clone())).unwrap();
        let (_, s_old) = secrets(&ca, "tekton-a");
        let (c_new, _) = secrets(&other, "tekton-a");
        let o = inspect(Some(&c_new), Some(&s_old), "tekton-a").unwrap();
        assert!(!o.serving_current, "signed by the previous CA");
        assert_eq!(o.ca_bundle.matches("BEGIN CERTIFICATE").count(), 2, "both CAs trusted");
        // The bundle's first certificate is the current CA, the same bytes as PEM.
        let first = first_certificate(&o.ca_bundle).unwrap();
        assert_eq!(pem_der(&first), pem_der(&other.cert_pem));
        assert_ne!(pem_der(&first), pem_der(&ca.cert_pem));
        assert_eq!(first_certificate("not a pem"), None);
        assert!(due(Some(&o), now(), Force::default()).is_some_and(|d| !d.1));
    }

    #[test]
    fn no_ca_means_a_new_one_and_garbage_is_not_usable() {
        assert!(due(None, now(), Force::default()).unwrap().1);
        let ca = generate_ca("a", None).unwrap();
        let (c, _) = secrets(&ca, "tekton-a");
        let junk = BTreeMap::from([
            (SERVER_CERT.to_owned(), "junk".to_owned()),
            (SERVER_KEY.to_owned(), "junk".to_owned()),
        ]);
        let o = inspect(Some(&c), Some(&junk), "tekton-a").unwrap();
        assert_eq!(o.serving_not_after, None);
        assert!(due(Some(&o), now(), Force::default()).is_some());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let ca = generate_ca("a", None).unwrap();
        let shown = format!("{ca:?}");
        assert!(!shown.contains("PRIVATE KEY") && !shown.contains(&ca.key_pem[30..60]), "{shown}");
    }
}
