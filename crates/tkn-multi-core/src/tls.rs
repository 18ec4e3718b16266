//! The webhook certificates of instances before v0.44, which tkn-multi owns. **Pure**: the facts
//! and decisions, which take the time as input; making keys (ring's system random) and reading the
//! clock are the shell's (`tkn_multi::tls`).
//!
//! knative's certificate reconciler, as those versions vendor it, keeps the `webhook-certs` Secret
//! it finds when it has `server-key.pem`, `server-cert.pem` and `ca-cert.pem`, the pair parses,
//! and the certificate is valid for more than another 24 h; otherwise it writes a 1-week one of its
//! own. The webhook reads the Secret at every TLS handshake. So tkn-multi keeps:
//! - a CA of its own per instance (10 years), in Secret [`crate::managed::WEBHOOK_CA_SECRET`], whose certificate (and the
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

use rcgen::KeyPair;
use time::{Duration, OffsetDateTime};

use serde::{Deserialize, Serialize};

/// The webhook certificate of an instance before v0.44, which tkn-multi owns: only what is
/// public (certificates, dates), never a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedCertificate {
    /// PEM of the CA certificates its admission configurations trust (current first).
    pub ca_bundle: String,
    /// When the current CA expires (RFC 3339).
    pub ca_not_after: String,
    /// When the serving certificate expires (RFC 3339), if there is a usable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_not_after: Option<String>,
    /// The serving certificate is signed by the current CA and names the webhook's Service.
    #[serde(default)]
    pub serving_current: bool,
}

/// The `notAfter` dates (RFC 3339) of an instance's CA and serving certificate once written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateDates {
    /// The CA's.
    pub ca_not_after: String,
    /// The serving certificate's.
    pub serving_not_after: String,
}

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

/// A CA generated for a run, carried to the step that stores it: never serialised, and its
/// `Debug` leaves the key out.
#[derive(Clone, PartialEq, Eq)]
pub struct NewCa {
    /// The CA certificate (PEM).
    pub cert_pem: String,
    /// Its private key (PEM).
    pub key_pem: String,
    /// The CA it replaces, trusted until the next rotation.
    pub previous_cert_pem: Option<String>,
}

/// The PEM bundle a configuration trusts: the current CA, then the previous one.
pub fn bundle(ca_cert_pem: &str, previous: Option<&str>) -> String {
    let mut b = ca_cert_pem.trim_end().to_owned();
    b.push('\n');
    if let Some(p) = previous.filter(|p| !p.trim().is_empty()) {
        b.push_str(p.trim_end());
        b.push('\n');
    }
    b
}

impl std::fmt::Debug for NewCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCa")
            .field("previous", &self.previous_cert_pem.is_some())
            .finish_non_exhaustive()
    }
}

/// The first certificate of a PEM bundle, as PEM (the `pem` crate parses and writes it, with
/// `\n` line endings).
pub fn first_certificate(bundle: &str) -> Option<String> {
    let first = pem::parse_many(bundle).ok()?.into_iter().find(|p| p.tag() == "CERTIFICATE")?;
    Some(pem::encode_config(&first, pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF)))
}

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
) -> CertificateDates {
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
    CertificateDates { ca_not_after, serving_not_after: at(now + Duration::days(SERVING_DAYS)) }
}
