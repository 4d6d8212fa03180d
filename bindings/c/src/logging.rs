//! Optional logs: `IRIS_LOG` (tracing env-filter syntax, e.g. `debug` or `iris_client=trace`)
//! sends libiris's logs to stderr. Without it libiris prints nothing.

use std::sync::Once;

/// Installs the stderr log subscriber once, if `IRIS_LOG` is set and no other one is installed.
pub(crate) fn init_from_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(filter) = std::env::var("IRIS_LOG") else { return };
        let Ok(filter) = tracing_subscriber::EnvFilter::try_new(filter) else {
            return;
        };
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .try_init();
    });
}
