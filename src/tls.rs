//! The webhook certificates of instances before v0.44, which tkn-multi owns. **Shell**: it makes
//! keys (rcgen, ring's system random) and reads the clock; the decisions take the time as input.
//!
//! knative's certificate reconciler, as those versions vendor it, keeps the `webhook-certs` Secret
//! it finds when it has `server-key.pem`, `server-cert.pem` and `ca-cert.pem`, the pair parses,
//! and the certificate is valid for more than another 24 h; otherwise it writes a 1-week one of its
//! own. The webhook reads the Secret at every TLS handshake. So tkn-multi keeps:
//! - a CA of its own per instance (10 years), in Secret [`CA_SECRET`], whose certificate (and the
//!   previous one, during a CA rotation) is the admission configurations' `caBundle`;
//! - a serving certificate (1 year) in `webhook-certs`, signed by that CA, renewed when less than
//!   [`RENEW_BEFORE_DAYS`] are left, on every install/upgrade/apply and by `rotate-certs`.
//!
//! A serving renewal keeps the CA, so admission never stops trusting the webhook. A CA rotation
//! takes two runs: the first trusts both CAs and keeps the serving certificate, the second signs
//! a new serving certificate with the new CA.
//!
//! Key material lives only here, in the step that writes it, and in the two Secrets: nothing
//! prints or logs it ([`NewCa`]'s `Debug` leaves the key out).

use std::collections::BTreeMap;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::plan::NewCa;
use crate::plan::state::ObservedCertificate;

pub use crate::managed::{WEBHOOK_CA_SECRET as CA_SECRET, WEBHOOK_CERTS_SECRET as SERVING_SECRET};
/// The webhook's Service (`WEBHOOK_SERVICE_NAME`).
pub const SERVICE: &str = "tekton-pipelines-webhook";
/// The label that marks a CA Secret, with the instance's name.
pub const CA_LABEL: &str = "tkn-multi.tekton.dev/webhook-ca-of";
/// The field manager of the certificate writes (apart from `tkn-multi`, whose applies of the
/// `webhook-certs` Secret carry no data, so they never remove the certificate).
pub const FIELD_MANAGER: &str = "tkn-multi-certificates";

/// Lifetime of a CA.
pub const CA_DAYS: i64 = 3650;
/// Lifetime of a serving certificate.
pub const SERVING_DAYS: i64 = 365;
/// A certificate (serving or CA) with fewer days left than this is renewed.
pub const RENEW_BEFORE_DAYS: i64 = 90;

/// Keys of the CA Secret.
pub const CA_CERT: &str = "ca-cert.pem";
/// The CA's private key.
pub const CA_KEY: &str = "ca-key.pem";
/// The CA before the last rotation, still trusted.
pub const PREVIOUS_CA_CERT: &str = "previous-ca-cert.pem";
/// Keys of `webhook-certs` (knative's `certresources`).
pub const SERVER_CERT: &str = "server-cert.pem";
/// The serving key.
pub const SERVER_KEY: &str = "server-key.pem";

/// What `rotate-certs` asks for beyond the renewals that are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Force {
    /// A new serving certificate now.
    pub serving: bool,
    /// A new CA (both trusted until the next rotation).
    pub ca: bool,
}

/// The DNS names the API server may check: it always dials `<svc>.<ns>.svc`.
pub fn dns_names(namespace: &str) -> Vec<String> {
    vec![
        SERVICE.to_owned(),
        format!("{SERVICE}.{namespace}"),
        format!("{SERVICE}.{namespace}.svc"),
        format!("{SERVICE}.{namespace}.svc.cluster.local"),
    ]
}

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

pub use crate::plan::ca_bundle as bundle;

fn parse_pem(pem: &str) -> Option<x509_parser::pem::Pem> {
    x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok().map(|(_, p)| p)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// What the two Secrets say, in public facts: `None` when there is no CA.
pub fn inspect(
    ca: Option<&BTreeMap<String, String>>,
    serving: Option<&BTreeMap<String, String>>,
    namespace: &str,
) -> Option<ObservedCertificate> {
    let ca = ca?;
    let ca_pem = ca.get(CA_CERT)?;
    let ca_der = parse_pem(ca_pem)?;
    let ca_cert = ca_der.parse_x509().ok()?;
    let mut facts = ObservedCertificate {
        ca_bundle: bundle(ca_pem, ca.get(PREVIOUS_CA_CERT).map(String::as_str)),
        ca_not_after: rfc3339(ca_cert.validity().not_after.to_datetime()),
        serving_not_after: None,
        serving_current: false,
    };
    let Some((cert, key)) = serving.and_then(|s| Some((s.get(SERVER_CERT)?, s.get(SERVER_KEY)?)))
    else {
        return Some(facts);
    };
    let Some(der) = parse_pem(cert) else { return Some(facts) };
    let Ok(x) = der.parse_x509() else { return Some(facts) };
    if KeyPair::from_pem(key).is_err() {
        return Some(facts);
    }
    facts.serving_not_after = Some(rfc3339(x.validity().not_after.to_datetime()));
    let names: Vec<String> = x
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let names_service = names.contains(&format!("{SERVICE}.{namespace}.svc"));
    let signed = x.verify_signature(Some(ca_cert.public_key())).is_ok();
    facts.serving_current = names_service && signed;
    Some(facts)
}

fn days_left(at: &str, now: OffsetDateTime) -> Option<i64> {
    let t = OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t - now).whole_days())
}

/// What is due for one instance: `(reason, new CA)`, or `None` when its certificate is fine.
pub fn due(
    observed: Option<&ObservedCertificate>,
    now: OffsetDateTime,
    force: Force,
) -> Option<(String, bool)> {
    let Some(o) = observed else { return Some(("no webhook certificate yet".into(), true)) };
    if force.ca {
        return Some(("rotate-certs --ca: a new CA, the current one still trusted".into(), true));
    }
    if days_left(&o.ca_not_after, now).is_none_or(|d| d < RENEW_BEFORE_DAYS) {
        return Some((format!("the CA expires at {}", o.ca_not_after), true));
    }
    serving_due(o, now, force).map(|why| (why, false))
}

/// What is due for the serving certificate alone (its CA's dates aside): a reason, or `None`.
pub fn serving_due(o: &ObservedCertificate, now: OffsetDateTime, force: Force) -> Option<String> {
    let Some(not_after) = &o.serving_not_after else {
        return Some("no usable serving certificate".into());
    };
    if !o.serving_current {
        return Some(
            "the serving certificate is not signed by the current CA for this service".into(),
        );
    }
    if days_left(not_after, now).is_none_or(|d| d < RENEW_BEFORE_DAYS) {
        return Some(format!("the serving certificate expires at {not_after}"));
    }
    force.serving.then(|| "rotate-certs".into())
}

/// The dates an instance's certificates have once the certificate step ran at `now`: a new
/// serving certificate, and a new CA or the observed one.
pub fn dates_after_writing(
    now: OffsetDateTime,
    observed: Option<&ObservedCertificate>,
    new_ca: bool,
) -> crate::plan::CertificateDates {
    let at = |t: OffsetDateTime| {
        t.replace_nanosecond(0)
            .unwrap_or(t)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let ca_not_after = match observed {
        Some(o) if !new_ca => o.ca_not_after.clone(),
        _ => at(now + Duration::days(CA_DAYS)),
    };
    crate::plan::CertificateDates {
        ca_not_after,
        serving_not_after: at(now + Duration::days(SERVING_DAYS)),
    }
}

/// The current time.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[cfg(test)]
mod tests {
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
