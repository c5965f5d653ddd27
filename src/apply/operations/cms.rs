//! The content types of an experience's CMS variant group, on the Content Management API
//! (`personalize-api.md` §2.9, §7): linked after the experience has its variant group, and
//! unlinked before the experience is deleted (deleting it leaves the group linked).
//!
//! Personalize makes the variant group asynchronously, once a version has variants: the
//! applier waits for `_cms.variantGroup` on the experience and for the group on the CMA, as
//! the official CLI does, but checks at once and then after 1, 2, 4, 8 and every 10 seconds,
//! for at most [`VARIANT_GROUP_WAIT`] in all.

use std::time::Duration;

use serde_json::Value;

use super::{OperationError, Result, Shared};
use crate::convert;
use crate::live::retry::retry_idempotent;
use crate::live::{Backend, BackendError};
use crate::model::{ExperienceSpec, Sides};
use crate::plan::{Action, Change};
use crate::wire;

/// How long the applier waits for an experience's variant group (the official CLI: 60 s).
pub(crate) const VARIANT_GROUP_WAIT: Duration = Duration::from_secs(60);
/// The longest pause between two looks.
const LONGEST_PAUSE: Duration = Duration::from_secs(10);

impl<B: Backend> Shared<B> {
    /// Link exactly the wanted content types to the experience's variant group, if the change
    /// manages them and they differ from the live ones.
    pub(super) async fn link_content_types(
        &self,
        change: &Change,
        sides: &Sides<ExperienceSpec>,
        experience: &str,
    ) -> Result<()> {
        let Some(wanted) = sides
            .after
            .as_ref()
            .and_then(|after| after.content_types.as_ref())
        else {
            return Ok(());
        };
        let live = sides
            .before
            .as_ref()
            .and_then(|before| before.content_types.as_ref());
        let nothing_to_do = match (change.action, live) {
            (Action::Update, Some(live)) => live == wanted,
            // A new experience has nothing linked.
            (Action::Create, _) => wanted.is_empty(),
            _ => false,
        };
        if nothing_to_do {
            return Ok(());
        }
        let project = self.project(&change.project)?;
        let stack = project.stack.clone().ok_or_else(|| {
            OperationError::Impossible(format!(
                "experience `{}` links content types, but project `{}` connects no stack",
                change.name, change.project
            ))
        })?;
        let group = self
            .variant_group(&project.uid, &stack, experience, &change.name)
            .await?;
        self.write_links(&stack, &change.name, &group, wanted).await
    }

    /// Unlink every content type of the experience about to be deleted.
    pub(super) async fn unlink_before_delete(
        &self,
        change: &Change,
        sides: &Sides<ExperienceSpec>,
    ) -> Result<()> {
        let linked = sides
            .before
            .as_ref()
            .and_then(|before| before.content_types.as_ref());
        if linked.is_none_or(Vec::is_empty) {
            return Ok(());
        }
        let project = self.project(&change.project)?;
        let (Some(stack), Some(uid)) = (
            project.stack.clone(),
            project.uids.experiences.get(&change.name).cloned(),
        ) else {
            return Ok(());
        };
        let api = &self.api;
        let groups = explain_cma(
            &stack,
            &change.name,
            "read",
            retry_idempotent!(
                self.config.retry,
                api.list_variant_groups(&stack, Some(&uid), 0).await
            ),
        )?;
        for group in own_groups(groups, None, &uid) {
            self.write_links(&stack, &change.name, &group, &[]).await?;
        }
        Ok(())
    }

    /// The experience's variant group, once Personalize has made it.
    async fn variant_group(
        &self,
        project: &str,
        stack: &str,
        experience: &str,
        name: &str,
    ) -> Result<wire::VariantGroup> {
        let api = &self.api;
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_secs(1);
        loop {
            let live = retry_idempotent!(
                self.config.retry,
                api.get_experience(project, experience).await
            )?;
            let own = live
                .cms
                .as_ref()
                .and_then(|cms| cms.get("variantGroup"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            if own.is_some() {
                let groups = explain_cma(
                    stack,
                    name,
                    "read",
                    retry_idempotent!(
                        self.config.retry,
                        api.list_variant_groups(stack, Some(experience), 0).await
                    ),
                )?;
                if let Some(group) = own_groups(groups, own.as_deref(), experience)
                    .into_iter()
                    .next()
                {
                    return Ok(group);
                }
            }
            let waited = started.elapsed();
            if waited >= VARIANT_GROUP_WAIT {
                return Err(OperationError::Impossible(format!(
                    "experience `{name}` has no CMS variant group in stack `{stack}` after {} s \
                     (Personalize makes it once a version has variants); apply again later to \
                     link its content types",
                    VARIANT_GROUP_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(pause.min(VARIANT_GROUP_WAIT - waited)).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    }

    async fn write_links(
        &self,
        stack: &str,
        name: &str,
        group: &wire::VariantGroup,
        wanted: &[String],
    ) -> Result<()> {
        let group_name = if group.name.is_empty() {
            name
        } else {
            &group.name
        };
        let Some(input) = convert::variant_group_input(group_name, wanted, &group.linked()) else {
            return Ok(());
        };
        let api = &self.api;
        explain_cma(
            stack,
            name,
            "change",
            retry_idempotent!(
                self.config.retry,
                api.update_variant_group(stack, &group.uid, &input).await
            ),
        )?;
        Ok(())
    }
}

/// A CMA answer, with 401 and 403 explained: stack permissions are not Personalize roles.
fn explain_cma<T>(
    stack: &str,
    name: &str,
    what: &str,
    result: Result<T, BackendError>,
) -> Result<T> {
    match result {
        Err(error) if matches!(error.status(), Some(401 | 403)) => {
            let message = error.api().map(wire::ApiError::message).unwrap_or_default();
            Err(OperationError::Impossible(format!(
                "the Content Management API refused to {what} the variant group of experience \
                 `{name}` in stack `{stack}` ({}: {message}); linking content types needs a \
                 stack role that may edit content types, which Personalize project roles do not \
                 grant",
                error.status().unwrap_or_default()
            )))
        }
        other => other.map_err(OperationError::from),
    }
}

/// The groups of one experience in a listing: by the experience's `_cms.variantGroup`, else
/// by `personalize_metadata.experience_uid`.
fn own_groups(
    groups: wire::VariantGroups,
    own: Option<&str>,
    experience: &str,
) -> Vec<wire::VariantGroup> {
    groups
        .variant_groups
        .into_iter()
        .filter_map(|group| serde_json::from_value::<wire::VariantGroup>(group).ok())
        .filter(|group| {
            own.is_some_and(|own| own == group.uid) || group.experience_uid() == Some(experience)
        })
        .collect()
}
