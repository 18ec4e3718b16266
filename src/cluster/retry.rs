//! Retries with backon (already in kube-runtime's tree): a constant back-off within a budget. **Pure**
//! (the sleeping is backon's, on tokio's clock).

use std::time::Duration;

/// Tries every `delay` for up to `total`: the retries of the cluster lock, the stored-version
/// migration and the conversion check after a webhook rollout.
pub fn every(delay: Duration, total: Duration) -> backon::ConstantBuilder {
    let times = usize::try_from(total.as_millis() / delay.as_millis()).unwrap_or(usize::MAX);
    backon::ConstantBuilder::new().with_delay(delay).with_max_times(times)
}
