//! Logging in, who the token says you are, and minting machine tokens.

use std::io::BufRead as _;

use pb_domain::wire::me::Me;
use pb_domain::wire::tokens::{TokenRequest, TokenResponse};

use super::Context;
use crate::args::{LoginArgs, TokensCommand};
use crate::client::Api;
use crate::config::{config_path, Config, Profile};
use crate::error::CliError;

/// Checks the token against the API (`GET /api/me`), then stores it for the profile.
pub async fn login(context: &Context, args: LoginArgs) -> Result<u8, CliError> {
    let token = match args.token {
        Some(token) => token,
        None => token_from_stdin()?,
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err(CliError::Usage(
            "no token: pass --token, set PB_TOKEN, or write it on stdin".into(),
        ));
    }
    let url = args.url.trim_end_matches('/').to_string();
    let me: Me = Api::new(&url, &token)?.get(&["api", "me"], &[]).await?;
    let path = config_path()?;
    let mut config = Config::load(&path)?;
    config.profiles.insert(
        context.profile.clone(),
        Profile {
            url: url.clone(),
            token,
        },
    );
    config.save(&path)?;
    if context.json {
        context.print_json(&me)?;
    } else {
        println!(
            "Logged in to {url} as {} (org {}) in profile '{}'; the token expires {}.",
            me.subject, me.org, context.profile, me.expires_at
        );
    }
    Ok(0)
}

fn token_from_stdin() -> Result<String, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|error| CliError::Usage(format!("cannot read the token from stdin: {error}")))?;
    Ok(line)
}

pub async fn whoami(context: &Context) -> Result<u8, CliError> {
    let me: Me = context.api()?.get(&["api", "me"], &[]).await?;
    if context.json {
        context.print_json(&me)?;
        return Ok(0);
    }
    println!("org          {}", me.org);
    println!("subject      {}", me.subject);
    if me.principal != me.subject {
        println!("principal    {}", me.principal);
    }
    if let Some(scope) = &me.scope {
        println!("scope        {scope}");
    }
    println!("permissions  {}", me.permissions.join(" "));
    println!("expires      {}", me.expires_at);
    Ok(0)
}

pub async fn tokens(context: &Context, command: TokensCommand) -> Result<u8, CliError> {
    let TokensCommand::Create {
        scope,
        perms,
        days,
        store,
    } = command;
    let request = TokenRequest {
        scope,
        perms: (!perms.is_empty()).then_some(perms),
        expires_in_days: days,
        store,
    };
    let minted: TokenResponse = context.api()?.post(&["api", "tokens"], &request).await?;
    if context.json {
        let mut answer = serde_json::to_value(&minted)
            .map_err(|error| CliError::Usage(format!("cannot encode the answer: {error}")))?;
        if let (true, Some(fields)) = (store, answer.as_object_mut()) {
            // Stored for the platform's stacks: the user did not ask to see it.
            fields.remove("token");
        }
        context.print_json(&answer)?;
        return Ok(0);
    }
    match &minted.stored {
        Some(stored) => println!(
            "Stored the platform token {} in {} ({}); it expires {}.",
            minted.jti, stored.secret_name, stored.result, minted.expires_at
        ),
        None => {
            eprintln!(
                "Token {} for {} ({}), expires {}:",
                minted.jti,
                minted.scope,
                minted.perms.join(" "),
                minted.expires_at
            );
            println!("{}", minted.token);
        }
    }
    Ok(0)
}
