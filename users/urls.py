from rest_framework.routers import SimpleRouter

from users.api import UserViewSet

router = SimpleRouter()
router.register("users", UserViewSet, basename="user")
urlpatterns = router.urls
