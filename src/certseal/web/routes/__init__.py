"""HTTP routers; every module here exposes `router` (a FastAPI APIRouter) and is mounted by web.app."""
