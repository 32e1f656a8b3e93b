from bnpl.routers import Router
from users.api import UserViewSet

router = Router()
router.register("users", UserViewSet, basename="user")
urlpatterns = router.urls
