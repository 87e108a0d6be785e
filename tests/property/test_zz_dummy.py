from hypothesis import settings
N = settings.default.max_examples
def test_x():
    print("PROFILE", settings.get_current_profile_name(), N)
    assert 0
