//! The panic message of the thread's failing test, kept so that the test's report can
//! end with it. CI shows the first and the last lines of a failing test's output; the
//! platform's logs, printed while the test unwinds, come between the panic and the end
//! and would otherwise push the reason out of sight.

use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records every panic's message for its thread, then lets the hook that was there
/// (the test harness's) print it as before. Idempotent.
pub fn record() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            LAST.with(|last| *last.borrow_mut() = Some(info.to_string()));
            previous(info);
        }));
    });
}

/// The message of this thread's latest panic, when [`record`] was installed before it.
pub fn last() -> Option<String> {
    LAST.with(|last| last.borrow().clone())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_on_this_thread_is_kept_with_its_place() {
        super::record();
        let caught = std::panic::catch_unwind(|| panic!("the reason {}", 42));
        assert!(caught.is_err());
        let message = super::last().expect("a message");
        assert!(message.contains("the reason 42"), "{message}");
        assert!(message.contains("panic_message.rs"), "{message}");
        let other = std::thread::spawn(super::last).join().expect("the thread ends");
        assert_eq!(other, None, "another thread's panics are its own");
    }
}
