//! Java handler objects adapted into the core's handler traits.
//!
//! The core calls these on its dispatcher threads (never its I/O runtime). Each call attaches the
//! thread once (as a daemon), runs inside a local reference frame so nothing leaks across the
//! thread's many calls, and goes through `io.iris.Dispatch`, which turns Java exceptions into fault
//! strings. A Java exception that still escapes is cleared here; it never reaches the core.

use crate::connection::JConn;
use crate::env::{attach, cache, JavaRef};
use crate::errors::take_exception;
use crate::tunnel::JTunnel;
use iris_client::{Bytes, Connection, Error, ServiceHandler, TopicHandler, Tunnel};
use jni::objects::{JObject, JStaticMethodID, JValueOwned};
use jni::signature::{Primitive, ReturnType};
use jni::sys::jvalue;
use jni::JNIEnv;
use std::sync::Arc;

/// Local references one callback may create before its frame is popped.
const FRAME: i32 = 16;

/// Calls a static method of `io.iris.Dispatch`; a Java exception comes back as its text.
fn call_dispatch<'local>(
    env: &mut JNIEnv<'local>,
    method: JStaticMethodID,
    ret: ReturnType,
    args: &[jvalue],
) -> Result<JValueOwned<'local>, String> {
    // SAFETY: every id in the cache was looked up on `dispatch` with the signature its callers use.
    let result = unsafe { env.call_static_method_unchecked(&cache().dispatch, method, ret, args) };
    match result {
        Ok(value) => match take_exception(env) {
            Some(text) => Err(text),
            None => Ok(value),
        },
        Err(e) => Err(take_exception(env).unwrap_or_else(|| format!("JNI failure: {e}"))),
    }
}

/// Runs `f` with this thread's JNI environment inside a local reference frame.
fn in_frame<T>(f: impl FnOnce(&mut JNIEnv) -> Result<T, String>) -> Result<T, String> {
    let mut env = attach().ok_or_else(|| "cannot attach the handler thread to the JVM".to_string())?;
    let outcome = env.with_local_frame(FRAME, |env| -> Result<Result<T, String>, jni::errors::Error> {
        Ok(f(env))
    });
    match outcome {
        Ok(result) => result,
        Err(e) => Err(take_exception(&mut env).unwrap_or_else(|| format!("JNI failure: {e}"))),
    }
}

fn byte_array<'local>(env: &mut JNIEnv<'local>, data: &[u8]) -> Result<JObject<'local>, String> {
    env.byte_array_from_slice(data)
        .map(JObject::from)
        .map_err(|e| take_exception(env).unwrap_or_else(|| format!("cannot pass {} bytes to Java: {e}", data.len())))
}

/// A Java `io.iris.ServiceHandler`.
pub(crate) struct JavaService {
    handler: JavaRef,
}

impl JavaService {
    pub fn new(handler: JavaRef) -> Self {
        JavaService { handler }
    }

    fn raw(&self) -> jni::sys::jobject {
        self.handler.get().as_obj().as_raw()
    }
}

impl ServiceHandler for JavaService {
    fn init(&self, connection: &Connection) -> Result<(), String> {
        in_frame(|env| {
            // Dispatch.init hands the box to a Java Connection, which frees it when collected.
            let handle = JConn::into_handle(connection.clone());
            let args = [jvalue { l: self.raw() }, jvalue { j: handle }];
            let failure = call_dispatch(env, cache().init, ReturnType::Object, &args)?
                .l()
                .map_err(|e| e.to_string())?;
            if failure.is_null() {
                return Ok(());
            }
            let text: String = env.get_string(&failure.into()).map_err(|e| e.to_string())?.into();
            Err(text)
        })
    }

    fn handle_broadcast(&self, message: Bytes) {
        let outcome = in_frame(|env| {
            let message = byte_array(env, &message)?;
            let args = [jvalue { l: self.raw() }, jvalue { l: message.as_raw() }];
            call_dispatch(env, cache().broadcast, ReturnType::Primitive(Primitive::Void), &args).map(|_| ())
        });
        if let Err(text) = outcome {
            eprintln!("iris: broadcast handler failed: {text}");
        }
    }

    fn handle_request(&self, request: Bytes) -> Result<Bytes, String> {
        in_frame(|env| {
            let request = byte_array(env, &request)?;
            let args = [jvalue { l: self.raw() }, jvalue { l: request.as_raw() }];
            let answer = call_dispatch(env, cache().request, ReturnType::Object, &args)?
                .l()
                .map_err(|e| e.to_string())?;
            if answer.is_null() {
                return Ok(Bytes::new());
            }
            if env
                .is_instance_of(&answer, &cache().string_class)
                .map_err(|e| e.to_string())?
            {
                let fault: String = env.get_string(&answer.into()).map_err(|e| e.to_string())?.into();
                return Err(fault);
            }
            let reply = env
                .convert_byte_array(jni::objects::JByteArray::from(answer))
                .map_err(|e| e.to_string())?;
            Ok(Bytes::from(reply))
        })
    }

    fn handle_tunnel(&self, tunnel: Tunnel) {
        let tunnel = Arc::new(tunnel);
        let outcome = in_frame(|env| {
            let handle = JTunnel::into_handle(tunnel.clone());
            let args = [jvalue { l: self.raw() }, jvalue { j: handle }];
            call_dispatch(env, cache().tunnel, ReturnType::Primitive(Primitive::Void), &args).map(|_| ())
        });
        if let Err(text) = outcome {
            eprintln!("iris: tunnel handler failed: {text}");
        }
        // The tunnel ends with its handler, as in the core.
        let _ = tunnel.close();
    }

    fn handle_drop(&self, reason: Error) {
        let outcome = in_frame(|env| {
            let code = env.new_string(reason.kind().code()).map_err(|e| e.to_string())?;
            let message = env.new_string(reason.message()).map_err(|e| e.to_string())?;
            let args = [
                jvalue { l: self.raw() },
                jvalue { l: code.as_raw() },
                jvalue { l: message.as_raw() },
            ];
            call_dispatch(env, cache().dropped, ReturnType::Primitive(Primitive::Void), &args).map(|_| ())
        });
        if let Err(text) = outcome {
            eprintln!("iris: drop handler failed: {text}");
        }
    }
}

/// A Java `io.iris.TopicHandler`.
pub(crate) struct JavaTopic {
    handler: JavaRef,
}

impl JavaTopic {
    pub fn new(handler: JavaRef) -> Self {
        JavaTopic { handler }
    }
}

impl TopicHandler for JavaTopic {
    fn handle_event(&self, event: Bytes) {
        let outcome = in_frame(|env| {
            let event = byte_array(env, &event)?;
            let args = [
                jvalue {
                    l: self.handler.get().as_obj().as_raw(),
                },
                jvalue { l: event.as_raw() },
            ];
            call_dispatch(env, cache().event, ReturnType::Primitive(Primitive::Void), &args).map(|_| ())
        });
        if let Err(text) = outcome {
            eprintln!("iris: topic handler failed: {text}");
        }
    }
}
