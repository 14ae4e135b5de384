//! tocsin-notify's integration tests: every channel against a real local server speaking its
//! protocol (an axum receiver, a Twilio-shaped API, aiosmtpd). One binary, so linking stays fast.

mod email;
mod http_channels;
mod support;
mod twilio;
