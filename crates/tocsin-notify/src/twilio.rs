//! SMS and voice calls through a Twilio-compatible REST API (Twilio itself, or any provider or
//! test server speaking `/2010-04-01/Accounts/{sid}/Messages.json` and `Calls.json`).
//! Only the outbound side: status callbacks, SMS replies and keypresses arrive at tocsin-web.

use crate::config::{ConfigError, Secret, TwilioConfig};
use crate::http::{self, Reply};
use crate::message::{Message, MessageKind};
use crate::{Destination, Outcome, SendError, text};
use reqwest::Url;

/// Where delivery-status callbacks go, below `status_callback_base` (with
/// `?notification=<idempotency key>`).
pub const TWILIO_STATUS_PATH: &str = "/status";
/// Where a call's keypress goes, below `status_callback_base` (with
/// `?notification=<idempotency key>`); the provider posts `Digits` and `CallSid`.
pub const TWILIO_GATHER_PATH: &str = "/voice/gather";
/// The key a callee presses to acknowledge.
pub const VOICE_ACK_DIGIT: &str = "4";
/// Twilio's limit on the `Twiml` parameter of a call.
const TWIML_CHARS_MAX: usize = 4000;
/// How long a call waits for the keypress after the message has been read.
const GATHER_TIMEOUT_SECONDS: u32 = 10;
/// The page is read this many times while waiting for the keypress.
const SAY_REPEATS: u32 = 2;

/// A validated [`TwilioConfig`] with its endpoint URLs built.
#[derive(Debug)]
pub(crate) struct Twilio {
    messages_url: String,
    calls_url: String,
    account_sid: String,
    auth_token: Secret,
    from_number: String,
    callback_base: Option<Url>,
}

impl Twilio {
    pub fn new(config: &TwilioConfig) -> Result<Twilio, ConfigError> {
        let err = |s: &str| ConfigError::Twilio(s.into());
        let base = Url::parse(&config.base_url).map_err(|_| err("base_url is not a URL"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(err("base_url must be an http(s) URL"));
        }
        let sid = &config.account_sid;
        if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(err("account_sid must be letters and digits (AC…)"));
        }
        if config.auth_token.expose().is_empty() {
            return Err(err("auth_token is empty"));
        }
        let from_number = match Destination::parse("sms", &config.from_number) {
            Ok(Destination::Sms(n)) => n,
            _ => return Err(err("from_number must be an E.164 number (+15551234567)")),
        };
        let callback_base = match &config.status_callback_base {
            None => None,
            Some(b) => {
                let url = Url::parse(b.trim_end_matches('/'))
                    .map_err(|_| err("status_callback_base is not a URL"))?;
                if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
                    return Err(err(
                        "status_callback_base must be an http(s) URL without query",
                    ));
                }
                Some(url)
            }
        };
        let account = format!(
            "{}/2010-04-01/Accounts/{sid}",
            config.base_url.trim_end_matches('/')
        );
        Ok(Twilio {
            messages_url: format!("{account}/Messages.json"),
            calls_url: format!("{account}/Calls.json"),
            account_sid: sid.clone(),
            auth_token: config.auth_token.clone(),
            from_number,
            callback_base,
        })
    }

    /// `{base}{path}?notification=<key>`, if a callback base is configured.
    fn callback(&self, path: &str, key: &str) -> Option<String> {
        let base = self.callback_base.as_ref()?;
        let mut url = base.clone();
        url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
        url.query_pairs_mut().append_pair("notification", key);
        Some(url.into())
    }

    pub async fn send_sms(
        &self,
        client: &reqwest::Client,
        to: &str,
        msg: &Message,
    ) -> Result<Outcome, SendError> {
        let mut form = vec![
            ("To", to.to_string()),
            ("From", self.from_number.clone()),
            ("Body", text::sms(msg)),
        ];
        if let Some(cb) = self.callback(TWILIO_STATUS_PATH, &msg.idempotency_key) {
            form.push(("StatusCallback", cb));
        }
        self.post(client, &self.messages_url, &form, "sms").await
    }

    pub async fn send_call(
        &self,
        client: &reqwest::Client,
        to: &str,
        msg: &Message,
    ) -> Result<Outcome, SendError> {
        let gather = match msg.kind {
            MessageKind::Page => self.callback(TWILIO_GATHER_PATH, &msg.idempotency_key),
            _ => None,
        };
        let twiml = twiml(msg, gather.as_deref());
        if twiml.chars().count() > TWIML_CHARS_MAX {
            return Err(SendError::permanent(format!(
                "voice: the call's TwiML exceeds {TWIML_CHARS_MAX} characters"
            )));
        }
        let mut form = vec![
            ("To", to.to_string()),
            ("From", self.from_number.clone()),
            ("Twiml", twiml),
        ];
        if let Some(cb) = self.callback(TWILIO_STATUS_PATH, &msg.idempotency_key) {
            form.push(("StatusCallback", cb));
        }
        self.post(client, &self.calls_url, &form, "voice").await
    }

    /// Posts the form with basic auth; the created resource's `sid` is the provider id. Twilio's
    /// error JSON (`code`, `message`) becomes the reason.
    async fn post(
        &self,
        client: &reqwest::Client,
        url: &str,
        form: &[(&str, String)],
        what: &str,
    ) -> Result<Outcome, SendError> {
        let token = self.auth_token.expose();
        let req = client
            .post(url)
            .basic_auth(&self.account_sid, Some(token))
            .form(form);
        let secrets = [token];
        let reply = http::send(req, what, &secrets).await?;
        if reply.status.is_success() {
            let provider_id = reply
                .json()
                .and_then(|v| v["sid"].as_str().map(str::to_string));
            return Ok(Outcome { provider_id });
        }
        let reason = http::scrub(&error_reason(what, &reply), &secrets);
        Err(http::status_error(reply.status, reply.retry_after, reason))
    }
}

fn error_reason(what: &str, reply: &Reply) -> String {
    let json = reply.json();
    let code = json.as_ref().and_then(|v| v["code"].as_i64());
    let message = json
        .as_ref()
        .and_then(|v| v["message"].as_str().map(|m| text::line(m, 200)));
    match (code, message) {
        (Some(code), Some(message)) => {
            format!("{what}: HTTP {}: error {code}: {message}", reply.status)
        }
        _ if reply.body.is_empty() => format!("{what}: HTTP {}", reply.status),
        _ => format!("{what}: HTTP {}: {}", reply.status, reply.snippet()),
    }
}

/// Escapes text for XML content and double-quoted attributes.
fn xml(s: &str) -> String {
    text::html(s)
}

/// The call's TwiML. With a `gather_action`, the page is read inside a one-digit `<Gather>` that
/// posts the keypress there; without one it is only read out.
pub(crate) fn twiml(msg: &Message, gather_action: Option<&str>) -> String {
    let speech = xml(&text::speech(msg, gather_action.is_some()));
    let repeats = if matches!(msg.kind, MessageKind::Page) {
        SAY_REPEATS
    } else {
        1
    };
    let say = format!("<Say loop=\"{repeats}\">{speech}</Say>");
    let body = match gather_action {
        Some(action) => format!(
            "<Gather numDigits=\"1\" timeout=\"{GATHER_TIMEOUT_SECONDS}\" method=\"POST\" action=\"{}\">{say}</Gather><Say>No key was pressed. Goodbye.</Say>",
            xml(action)
        ),
        None => say,
    };
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{body}</Response>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::tests::page;

    fn config() -> TwilioConfig {
        TwilioConfig {
            base_url: "http://127.0.0.1:9/".into(),
            account_sid: "AC0123".into(),
            auth_token: Secret::new("tok"),
            from_number: "+1 500 555 0006".into(),
            status_callback_base: Some("https://tocsin.example/hooks/twilio/".into()),
        }
    }

    #[test]
    fn endpoints_and_callbacks_are_built_from_the_config() {
        let t = Twilio::new(&config()).unwrap();
        assert_eq!(
            t.messages_url,
            "http://127.0.0.1:9/2010-04-01/Accounts/AC0123/Messages.json"
        );
        assert_eq!(
            t.calls_url,
            "http://127.0.0.1:9/2010-04-01/Accounts/AC0123/Calls.json"
        );
        assert_eq!(t.from_number, "+15005550006");
        assert_eq!(
            t.callback(TWILIO_GATHER_PATH, "inc-42:step 1").unwrap(),
            "https://tocsin.example/hooks/twilio/voice/gather?notification=inc-42%3Astep+1"
        );
    }

    #[test]
    fn bad_configs_are_refused_by_name() {
        let mut c = config();
        c.from_number = "5550006".into();
        assert!(
            Twilio::new(&c)
                .unwrap_err()
                .to_string()
                .contains("from_number")
        );
        let mut c = config();
        c.account_sid = "AC/../x".into();
        assert!(
            Twilio::new(&c)
                .unwrap_err()
                .to_string()
                .contains("account_sid")
        );
        let mut c = config();
        c.base_url = "api.twilio.com".into();
        assert!(
            Twilio::new(&c)
                .unwrap_err()
                .to_string()
                .contains("base_url")
        );
    }

    #[test]
    fn twiml_gathers_one_digit_and_escapes_the_title() {
        let mut msg = page();
        msg.title = "db <down> & \"out\"".into();
        let xml = twiml(
            &msg,
            Some("https://t.example/voice/gather?notification=a&b"),
        );
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
             <Gather numDigits=\"1\" timeout=\"10\" method=\"POST\" action=\"https://t.example/voice/gather?notification=a&amp;b\">\
             <Say loop=\"2\">Tocsin alert. Incident 42, high urgency, service payments: db &lt;down&gt; &amp; &quot;out&quot;. \
             Open for 5 minutes. Press 4 to acknowledge.</Say></Gather>\
             <Say>No key was pressed. Goodbye.</Say></Response>"
        );
        let plain = twiml(&msg, None);
        assert!(
            !plain.contains("Gather") && !plain.contains("Press"),
            "{plain}"
        );
    }

    #[test]
    fn the_longest_page_fits_twilios_twiml_limit() {
        let mut msg = page();
        msg.title = "&".repeat(5000);
        msg.service = "<".repeat(500);
        let xml = twiml(
            &msg,
            Some(&format!("https://t.example/{}", "a".repeat(500))),
        );
        assert!(xml.chars().count() <= TWIML_CHARS_MAX, "{}", xml.len());
    }
}
