"""Setting a password end to end: the claims service's form, PasswordLinkRequested through the real broker,
the notifier's email from the real SMTP server, and the emailed link back on the claims service."""

import asyncio

import httpx

from services.claims.app import definition as claims
from shared.contracts.topics import ERP_DIRECTORY
from tests.factories import erp_event, member
from tests.integration.test_password_mail import link_in, password_mails
from tests.support import csrf_of, publish_event, running_service, service_settings


async def test_a_person_sets_a_password_through_the_emailed_link_and_is_logged_in(infrastructure, database_for):
    database = await database_for("claims")
    async with running_service(claims, service_settings(infrastructure, "claims", database.url)) as service:
        async with password_mails(infrastructure, database_for, claims_public_url=service.base_url) as mails:
            sam = member(f"U-sam-{mails.domain}", project_id="P-100", name="Sam Lee", email=f"sam@{mails.domain}")
            await publish_event(mails.bootstrap, ERP_DIRECTORY, sam.user_id, erp_event(sam))
            async with asyncio.timeout(20):
                while not await database.pool.fetchval("SELECT 1 FROM erp_users WHERE user_id = $1", sam.user_id):
                    await asyncio.sleep(0.1)

            async with httpx.AsyncClient(base_url=service.base_url) as browser:
                form = await browser.get("/password/new")
                asked = await browser.post("/password/new", data={"email": sam.email, "csrf_token": csrf_of(form)})
                assert "Check your email" in asked.text
                [message] = await mails.wait_for_mail(1)
                link = link_in(message)
                assert link.startswith(f"{service.base_url}/password/")

                password_form = await browser.get(link)
                new_password = "sam's long password"
                done = await browser.post(
                    link,
                    data={"password": new_password, "confirmation": new_password, "csrf_token": csrf_of(password_form)},
                )
                assert done.status_code == 303
                welcome = await browser.get(done.headers["location"])
                assert "Your password is set" in welcome.text and "My invites and claims" in welcome.text

                session = await browser.post("/api/sessions", json={"email": sam.email, "password": new_password})
                assert session.status_code == 201
