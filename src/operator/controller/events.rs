//! Events about a `TektonFleet`: one per step that changed something, and what a reconcile
//! refused or kept. **I/O.**

use kube::Resource as _;
use kube::runtime::events::{Event, EventType};

use super::context::Context;
use crate::operator::resource::TektonFleet;
use crate::plan::{Action as StepAction, Plan, StepKind};

impl Context {
    pub(super) async fn event(
        &self,
        fleet: &TektonFleet,
        type_: EventType,
        reason: &str,
        action: &str,
        note: &str,
    ) {
        self.event_about(fleet, type_, (reason, action, note), None).await;
    }

    /// An event about `fleet`, and about `related` (events about one fleet are told apart by
    /// reason, action and related object: without it, every `Created` would be one series).
    pub(super) async fn event_about(
        &self,
        fleet: &TektonFleet,
        type_: EventType,
        (reason, action, note): (&str, &str, &str),
        related: Option<k8s_openapi::api::core::v1::ObjectReference>,
    ) {
        let note: String = note.chars().take(1000).collect();
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: related,
        };
        if let Err(e) = self.recorder.publish(&event, &fleet.object_ref(&())).await {
            self.printer.warn(&format!("cannot record an event: {e}"));
        }
    }

    /// One event per step that changed something (waits are not events).
    pub(super) async fn step_events(&self, fleet: &TektonFleet, plan: &Plan) {
        use k8s_openapi::api::core::v1::ObjectReference;
        let reference = |kind: &str, namespace: Option<&str>, name: &str| ObjectReference {
            api_version: crate::managed::find(kind).map(crate::managed::Kind::api_version),
            kind: Some(kind.to_owned()),
            namespace: namespace.map(ToOwned::to_owned),
            name: Some(name.to_owned()),
            ..ObjectReference::default()
        };
        let events: Vec<(&'static str, String, ObjectReference)> = plan
            .steps
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::Object { action, object, owner, .. } => Some((
                    match action {
                        StepAction::Create => "Created",
                        StepAction::Update => "Updated",
                        StepAction::Replace => "Replaced",
                        StepAction::Delete => "Deleted",
                    },
                    format!("{object} ({owner})"),
                    reference(&object.kind, object.namespace.as_deref(), &object.name),
                )),
                StepKind::Certificate { namespace, owner, reason, .. } => Some((
                    "CertificateWritten",
                    format!("webhook certificate of {owner} in {namespace}: {reason}"),
                    reference("Secret", Some(namespace), crate::managed::WEBHOOK_CERTS_SECRET),
                )),
                StepKind::MigrateStoredVersions { crd, from, to } => Some((
                    "StorageMigrated",
                    format!("{crd}: stored versions {} → {to}", from.join(", ")),
                    reference("CustomResourceDefinition", None, crd),
                )),
                StepKind::WaitEstablished { .. } | StepKind::WaitAvailable { .. } => None,
            })
            .collect();
        for chunk in events.chunks(8) {
            let mut sends = Vec::with_capacity(chunk.len());
            for (reason, note, related) in chunk {
                let what = (*reason, "Apply", note.as_str());
                sends.push(self.event_about(fleet, EventType::Normal, what, Some(related.clone())));
            }
            futures::future::join_all(sends).await;
        }
    }

    /// When the last instance went and the shared layer stays (Tekton objects remain), says so.
    pub(super) async fn kept_shared(&self, fleet: &TektonFleet, plan: &Plan, deleting: bool) {
        if let Some(note) = &plan.shared_kept
            && deleting
        {
            self.event(fleet, EventType::Normal, "SharedLayerKept", "Uninstall", note).await;
        }
    }
}
