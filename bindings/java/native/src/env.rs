//! The JVM, the cached classes and method ids, and attaching the core's threads.

use jni::objects::{GlobalRef, JStaticMethodID};
use jni::{JNIEnv, JavaVM};
use std::sync::OnceLock;

/// What every native call and callback needs, looked up once in `JNI_OnLoad`.
pub(crate) struct Cache {
    pub vm: JavaVM,
    /// `io.iris.Dispatch`: the Java side of handler calls and error construction.
    pub dispatch: GlobalRef,
    pub string_class: GlobalRef,
    pub init: JStaticMethodID,
    pub request: JStaticMethodID,
    pub broadcast: JStaticMethodID,
    pub tunnel: JStaticMethodID,
    pub dropped: JStaticMethodID,
    pub event: JStaticMethodID,
    pub error: JStaticMethodID,
    pub interrupted: JStaticMethodID,
}

static CACHE: OnceLock<Cache> = OnceLock::new();

pub(crate) fn init(vm: JavaVM) -> jni::errors::Result<()> {
    let mut env = vm.get_env()?;
    let class = env.find_class("io/iris/Dispatch")?;
    let dispatch = env.new_global_ref(&class)?;
    let string_class = env.find_class("java/lang/String")?;
    let string_class = env.new_global_ref(&string_class)?;
    let mut id = |name: &str, sig: &str| env.get_static_method_id(&dispatch, name, sig);
    let init = id("init", "(Lio/iris/ServiceHandler;J)Ljava/lang/String;")?;
    let request = id("request", "(Lio/iris/ServiceHandler;[B)Ljava/lang/Object;")?;
    let broadcast = id("broadcast", "(Lio/iris/ServiceHandler;[B)V")?;
    let tunnel = id("tunnel", "(Lio/iris/ServiceHandler;J)V")?;
    let dropped = id(
        "dropped",
        "(Lio/iris/ServiceHandler;Ljava/lang/String;Ljava/lang/String;)V",
    )?;
    let event = id("event", "(Lio/iris/TopicHandler;[B)V")?;
    let error = id(
        "error",
        "(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/RuntimeException;",
    )?;
    let interrupted = id("interrupted", "()Z")?;
    let cache = Cache {
        vm,
        dispatch,
        string_class,
        init,
        request,
        broadcast,
        tunnel,
        dropped,
        event,
        error,
        interrupted,
    };
    // A second load of the library (another class loader) keeps the first cache.
    let _ = CACHE.set(cache);
    Ok(())
}

pub(crate) fn cache() -> &'static Cache {
    CACHE.get().expect("JNI_OnLoad ran before any native call")
}

/// The JNI environment of the current thread, attaching it as a daemon the first time (the
/// attachment lasts until the thread exits, so a dispatcher thread attaches once).
pub(crate) fn attach() -> Option<JNIEnv<'static>> {
    let vm = &cache().vm;
    if let Ok(env) = vm.get_env() {
        return Some(env);
    }
    match vm.attach_current_thread_as_daemon() {
        Ok(mut env) => {
            name_java_thread(&mut env);
            Some(env)
        }
        Err(e) => {
            eprintln!("iris: cannot attach a handler thread to the JVM: {e}");
            None
        }
    }
}

/// Gives a freshly attached thread its Rust name (such as `iris-request`) in Java too, so thread
/// dumps and logs say what it is; JNI would call it `Thread-N`.
fn name_java_thread(env: &mut JNIEnv) {
    let Some(name) = std::thread::current().name().map(str::to_owned) else {
        return;
    };
    let _ = env.with_local_frame(4, |env| -> jni::errors::Result<()> {
        let thread = env
            .call_static_method("java/lang/Thread", "currentThread", "()Ljava/lang/Thread;", &[])?
            .l()?;
        let name = env.new_string(name)?;
        env.call_method(&thread, "setName", "(Ljava/lang/String;)V", &[(&name).into()])?;
        Ok(())
    });
    let _ = env.exception_clear();
}

/// A global reference that deletes itself from a daemon-attached thread, so dropping it on one of
/// the core's I/O threads never attaches (and detaches) a thread per drop.
pub(crate) struct JavaRef(Option<GlobalRef>);

impl JavaRef {
    pub fn new(global: GlobalRef) -> Self {
        JavaRef(Some(global))
    }
    pub fn get(&self) -> &GlobalRef {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for JavaRef {
    fn drop(&mut self) {
        if let Some(global) = self.0.take() {
            let _attached = attach();
            drop(global);
        }
    }
}
