"""Who may change the home in the app: every visitor searches; an admin adds feeds, ingests and deletes.

An admin is someone signed in with the deployment's OIDC provider (Streamlit's `st.login`, configured
in `.streamlit/secrets.toml` `[auth]`) whose e-mail is in PODSEARCH_ADMIN_EMAILS, or a visitor who
typed the home's admin password (`podsearch admin set-password`, or PODSEARCH_ADMIN_TOKEN) in this
session. A home with neither configured is a single person's machine: that person is the admin.
`podsearch app --read-only` hides every admin action, sign-in included.
"""

from __future__ import annotations

import streamlit as st

from podsearch.core.config import Settings
from podsearch.service import admin

_PASSWORD_OK = "_podsearch_admin"  # session flag: this session typed the admin password


def oidc_configured() -> bool:
    """True when the deployment configured Streamlit's OIDC sign-in (`[auth]` in secrets.toml)."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all, or an unreadable one: no OIDC
        return False


def _oidc_email() -> str | None:
    if not oidc_configured() or not st.user.is_logged_in:
        return None
    email = st.user.get("email")
    # A provider that says the address is unverified does not vouch for it.
    if not email or st.user.get("email_verified") is False:
        return None
    return str(email).lower()


def is_admin(settings: Settings) -> bool:
    """True when this session may run admin actions."""
    if settings.read_only:
        return False
    if st.session_state.get(_PASSWORD_OK):
        return True
    email = _oidc_email()
    if email is not None and email in settings.admin_emails:
        return True
    # Nobody configured any admin: one person on their own machine, as before roles existed.
    return not (oidc_configured() or admin.admin_configured(settings))


def sign_in_panel(settings: Settings) -> None:
    """Sign in (OIDC or admin password) or out; nothing at all in a read-only app."""
    if settings.read_only or not (oidc_configured() or admin.admin_configured(settings)):
        return  # read-only: nothing to sign in for; nobody configured: the one user is the admin already
    with st.container(border=True, key="admin_sign_in"):
        if is_admin(settings):
            if st.session_state.get(_PASSWORD_OK):
                st.caption("Signed in as admin with the admin password.")
                if st.button("Sign out", key="admin_sign_out"):
                    st.session_state.pop(_PASSWORD_OK, None)
                    st.rerun()
            else:
                st.caption(f"Signed in as {_oidc_email()} (admin).")
                if st.button("Sign out", key="oidc_sign_out"):
                    st.logout()
            return
        st.caption("Adding feeds, importing subscriptions and ingesting need an admin.")
        if oidc_configured():
            if st.user.is_logged_in:
                st.caption(f"Signed in as {st.user.get('email') or st.user.get('sub')}: not an admin of this home.")
                if st.button("Sign out", key="oidc_sign_out"):
                    st.logout()
            elif st.button("Sign in", key="oidc_sign_in", icon=":material/login:"):
                st.login()
        if admin.admin_configured(settings):
            with st.form("admin_password", clear_on_submit=True, border=False):
                secret = st.text_input("Admin password", type="password", key="admin_password_input")
                if st.form_submit_button("Sign in as admin", icon=":material/lock_open:"):
                    if admin.verify(settings, secret):
                        st.session_state[_PASSWORD_OK] = True
                        st.rerun()
                    else:
                        st.error("That is not the admin password of this home.")
