"""Rich text from a record is hostile HTML: only plain formatting survives, images point at the
snapshot's copy or become a note."""

from __future__ import annotations

from sfbackup.inspect.rich_text import image_refid, plain_text, sanitise

RTA = "https://acme.file.force.com/servlet/rtaImage?eid=a9F000000000001&amp;feoid=00N5e00000RtaSum&amp;refid=0EM000000000001"


def test_given_script_handlers_and_links_then_only_plain_formatting_is_left() -> None:
    html = ('<p onclick="x()">Hi <b style="color:red">there</b><script>alert(1)</script>'
            '<a href="javascript:alert(2)">link</a><iframe src="//evil"></iframe>'
            '<svg><script>alert(3)</script></svg>&lt;script&gt;</p>')  # fmt: skip
    out = sanitise(html, lambda _: None)
    assert out == "<p>Hi <b>there</b>link&lt;script&gt;</p>"


def test_given_rta_images_then_the_held_one_points_at_the_snapshot_and_the_other_is_a_note() -> None:
    held = RTA.replace("&amp;", "&")
    html = f'<p><img alt="site" src="{RTA}"></img><img alt="gone" src="{RTA[:-1]}2"><img src="https://evil/x.png"></p>'
    out = sanitise(html, lambda refid: f"/rt/X/{refid}" if refid == "0EM000000000001" else None)
    assert "<img class=rich alt='site' src='/rt/X/0EM000000000001'>" in out
    assert "[image gone not in the backup]" in out and "evil" not in out
    assert image_refid(held) == "0EM000000000001" and image_refid("https://evil/x.png") is None


def test_given_unclosed_tags_then_they_are_closed_and_text_only_strips_everything() -> None:
    assert sanitise("<ul><li>one<li>two", lambda _: None) == "<ul><li>one<li>two</li></li></ul>"
    assert plain_text("<p>Site <b>visit</b></p><script>x</script><p>two</p>") == "Site visit two"
