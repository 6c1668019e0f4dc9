"""The bearer-token authorizer (a Chalice built-in authorizer)."""

from __future__ import annotations

from chalice.app import AuthRequest, AuthResponse, Blueprint

from ..adapters.secrets import jwt_secret

auth_bp = Blueprint(__name__)


@auth_bp.authorizer(ttl_seconds=300)
def jwt_auth(auth_request: AuthRequest) -> AuthResponse:
    """Authenticate the token; what it may do is the access policy's decision.

    An invalid token still gets an "allow" carrying `auth_error`: the
    `reject_unauthenticated` middleware answers it with a JSON 401. (A raised
    error would be a 401 in AWS but a 500 under `chalice local`.)
    """
    from ..services.tokens import (  # PyJWT only when a token arrives
        InvalidToken,
        verify_token,
    )

    try:
        principal, exp = verify_token(auth_request.token or "", jwt_secret())
    except InvalidToken as exc:
        from ..observability import get_logger

        get_logger().warning("token refused", extra={"reason": str(exc)})  # the reason never quotes the token
        return AuthResponse(routes=["*"], principal_id="anonymous", context={"auth_error": str(exc)})
    return AuthResponse(
        routes=["*"],
        principal_id=principal.subject,
        context={"account_id": principal.account_id, "role": principal.role.value, "exp": str(exp)},
    )
