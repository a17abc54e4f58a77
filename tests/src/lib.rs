//! Shared helpers of the integration suites: service URLs, skipping, fresh databases.

/// Reads the URL of a service from `var`. Outside CI a missing variable skips the suite with
/// a printed reason (`None`); under `CI=true` it is a failure.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{var} is not set, and CI=true requires every service suite to run")
        }
        _ => {
            eprintln!("skipping: {var} is not set (see DEVELOPERS.md)");
            None
        }
    }
}
