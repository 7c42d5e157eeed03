"""A person's account: deleting it, with everything of theirs."""

from __future__ import annotations

import logging

from pdfprompt.actions.assets import delete_user_assets
from pdfprompt.wiring import Services

log = logging.getLogger(__name__)


async def delete_account(svc: Services, user_id: str) -> None:
    """Delete the person and everything of theirs, each kind in short batches so that a
    person with many documents holds no long transaction:

    1. disable them: their keys stop, their sessions and sign-in links end, and nothing new
       of theirs is queued meanwhile;
    2. their jobs and files, with their share links; each batch's stored bytes go once its
       rows are gone (a removal that fails is logged: the orphan sweep takes the object
       later, as nothing points to it any more);
    3. their assets, with their stored bytes;
    4. the deliveries to their webhook endpoints (with their attempts), then the endpoints;
    5. their usage history, their templates and their signing certificates (with their
       sealed keys);
    6. their row, and by cascade what is left (keys, sessions, usage counters).

    `NotFoundError` for an unknown user. Stopped part way (a database failure), it leaves
    the person disabled with part of their data: running it again finishes the work."""
    await svc.accounts.get_user(user_id)
    await svc.accounts.set_disabled(user_id, True)
    while True:
        deleted, keys = await svc.jobs.delete_user_documents(user_id)
        for key in keys:
            try:
                await svc.storage.delete(key)
            except Exception as exc:
                log.warning("could not remove stored file %s (%s); the orphan sweep will", key, exc)
        if deleted == 0:
            break
    await delete_user_assets(svc, user_id)
    while await svc.webhooks.delete_user_deliveries(user_id):
        pass
    for hook in await svc.webhooks.list_webhooks(user_id):
        await svc.webhooks.delete(user_id, hook.id)
    while await svc.accounts.delete_usage_history(user_id):
        pass
    await svc.templates.delete_user_templates(user_id)
    await svc.certificates.delete_user_certificates(user_id)
    await svc.accounts.delete_user(user_id)
    log.info("deleted user %s and everything of theirs", user_id)
