"""Constants shared by the client, the wallet code and the emulator (facts, not policy)."""

from __future__ import annotations

from typing import Final

DEFAULT_BASE_URL: Final = "https://api.venice.ai/api/v1"

# Timeouts per HTTP attempt, in seconds. Edits take 60-170 s on the slow models.
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
DEFAULT_READ_TIMEOUT: Final = 300.0
# The whole of one attempt (connect, upload, download): generous, since the slowest edits take
# about 170 s and a 25 MB upload on a slow link takes minutes.
DEFAULT_ATTEMPT_TIMEOUT: Final = 900.0

# The largest success bodies read. The API's largest output is 16,777,216 px (a 4K tier or an
# upscale): an uncompressed-worst-case RGBA PNG of that is about 67 MB, so 128 MiB is ample.
# JSON answers (catalogue, balances, transaction pages) are kilobytes; 16 MiB bounds a gzip bomb.
DEFAULT_MAX_IMAGE_RESPONSE_BYTES: Final = 128 * 1024 * 1024
DEFAULT_MAX_JSON_RESPONSE_BYTES: Final = 16 * 1024 * 1024

# Local limits checked before anything is sent.
MAX_IMAGE_BYTES: Final = 25 * 1024 * 1024
MAX_PROMPT_CHARS: Final = 32_768
MIN_PIXELS: Final = 65_536
MIN_SIDE: Final = 64
MAX_PIXELS: Final = 33_177_600
MAX_JSON_BYTES: Final = 35 * 1024 * 1024

# Environment variables.
ENV_API_KEY: Final = "VENICE_API_KEY"
ENV_BASE_URL: Final = "VENICE_BASE_URL"
ENV_WALLET_KEY: Final = "VENICE_WALLET_KEY"
ENV_WALLET_KEYSTORE: Final = "VENICE_WALLET_KEYSTORE"
ENV_WALLET_PASSWORD: Final = "VENICE_WALLET_PASSWORD"
ENV_LOG: Final = "INPAINT_LOG"
ENV_LEDGER: Final = "INPAINT_LEDGER"
ENV_PAYEE: Final = "VENICE_PAYEE"

# Header names (lowercase; aiohttp's multidicts compare case-insensitively).
H_AUTHORIZATION: Final = "authorization"
H_SIWX: Final = "sign-in-with-x"
H_SIWX_LEGACY: Final = "x-sign-in-with-x"
H_PAYMENT_SIGNATURE: Final = "payment-signature"
H_PAYMENT_LEGACY: Final = "x-402-payment"
H_PAYMENT_V1: Final = "x-payment"
H_PAYMENT_REQUIRED: Final = "payment-required"
H_PAYMENT_RESPONSE: Final = "payment-response"
H_CF_RAY: Final = "cf-ray"
H_RETRY_AFTER: Final = "retry-after"
H_RETRY_AFTER_MS: Final = "retry-after-ms"
H_RL_LIMIT: Final = "x-ratelimit-limit-requests"
H_RL_REMAINING: Final = "x-ratelimit-remaining-requests"
H_RL_RESET: Final = "x-ratelimit-reset-requests"
H_BALANCE_REMAINING: Final = "x-balance-remaining"
H_BALANCE_USD: Final = "x-venice-balance-usd"
H_MODEL_ID: Final = "x-venice-model-id"
H_MODEL_NAME: Final = "x-venice-model-name"
H_IS_BLURRED: Final = "x-venice-is-blurred"
H_IS_CONTENT_VIOLATION: Final = "x-venice-is-content-violation"
H_ENHANCED_PROMPT: Final = "x-venice-enhanced-prompt"
H_VENICE_VERSION: Final = "x-venice-version"
H_DEPRECATION_WARNING: Final = "x-venice-model-deprecation-warning"
H_DEPRECATION_DATE: Final = "x-venice-model-deprecation-date"
H_DEPRECATED: Final = "x-venice-deprecated"
H_DEPRECATED_REPLACEMENT: Final = "x-venice-deprecated-replacement"

SECRET_HEADERS: Final = frozenset(
    {
        H_AUTHORIZATION,
        H_SIWX,
        H_SIWX_LEGACY,
        H_PAYMENT_SIGNATURE,
        H_PAYMENT_LEGACY,
        H_PAYMENT_V1,
        "proxy-authorization",
    }
)

# Wallet / x402 facts: Base mainnet, its USDC contract and the EIP-712 domain of USDC (docs/wallet.md).
BASE_CHAIN_ID: Final = 8453
BASE_CAIP2: Final = "eip155:8453"
BASE_SEPOLIA_CHAIN_ID: Final = 84532
USDC_BASE: Final = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
USDC_BASE_SEPOLIA: Final = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
USDC_DECIMALS: Final = 6
USDC_EIP712_NAME: Final = "USD Coin"
USDC_EIP712_VERSION: Final = "2"
SIWX_STATEMENT: Final = "Sign in to Venice AI"
SIWX_TTL_SECONDS: Final = 300
MIN_WALLET_BALANCE_USD: Final = "0.10"
MIN_TOP_UP_USD: Final = "5"
MAX_TOP_UP_USD: Final = "10000"
WALLET_MAX_IN_FLIGHT: Final = 5
SOLANA_CAIP2: Final = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"
