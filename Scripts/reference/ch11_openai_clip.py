"""Chapter 11 reference: OpenAI's CLIP as Hugging Face's CLIPModel and open_clip build it.

Writes
  Tests/Fixtures/ch11-clip-small-hf/config.json, model.safetensors   a small CLIPModel (random init, seed 0),
                                                                    Hugging Face's keys
  Tests/Fixtures/ch11-clip-small-openclip.safetensors               the same weights as open_clip's state dict
  Tests/Fixtures/ch11-clip.safetensors
    small.pixels, small.ids (as float), small.image_features, small.text_features, small.logits,
    small.openclip_image_features, small.openclip_text_features      open_clip on the converted weights
    small.grad.<key>                                                 d(Σ image_features·R_i + Σ text_features·R_t)/d<key>
    b32.ids, b32.image_features, b32.text_features, b32.logits        CLIPModel (ViT-B/32 config) filled with
                                                                    deterministic weights under its own keys,
                                                                    on Tensor.deterministic pixels (not stored)
    b32.openclip_image_features, b32.openclip_text_features           open_clip ViT-B-32-quickgelu on the same weights
    preprocess.<image>                                               open_clip's image_transform(224) (OpenAI mean/std)
                                                                    on three fixture JPEGs: an odd crop margin, upscaling
Run: python Scripts/reference/ch11_openai_clip.py
"""
import json
import os

import open_clip
import torch
from open_clip.model import CLIPTextCfg, CLIPVisionCfg
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel

from common import FIXTURES, deterministic, fill_deterministic, save_fixture, seed_everything

SMALL = dict(
    vision_config=dict(image_size=32, patch_size=8, hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                       num_attention_heads=4, hidden_act="quick_gelu"),
    text_config=dict(vocab_size=1000, hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                     max_position_embeddings=16, hidden_act="quick_gelu", eos_token_id=2, bos_token_id=0, pad_token_id=1),
    projection_dim=24,
)


def to_open_clip(hf: dict, vision_layers: int, text_layers: int) -> dict:
    """Hugging Face CLIPModel keys → open_clip / OpenAI keys: q, k, v fused, projections transposed."""
    out = {
        "visual.class_embedding": hf["vision_model.embeddings.class_embedding"],
        "visual.positional_embedding": hf["vision_model.embeddings.position_embedding.weight"],
        "visual.conv1.weight": hf["vision_model.embeddings.patch_embedding.weight"],
        "visual.ln_pre.weight": hf["vision_model.pre_layrnorm.weight"],
        "visual.ln_pre.bias": hf["vision_model.pre_layrnorm.bias"],
        "visual.ln_post.weight": hf["vision_model.post_layernorm.weight"],
        "visual.ln_post.bias": hf["vision_model.post_layernorm.bias"],
        "visual.proj": hf["visual_projection.weight"].t(),
        "token_embedding.weight": hf["text_model.embeddings.token_embedding.weight"],
        "positional_embedding": hf["text_model.embeddings.position_embedding.weight"],
        "ln_final.weight": hf["text_model.final_layer_norm.weight"],
        "ln_final.bias": hf["text_model.final_layer_norm.bias"],
        "text_projection": hf["text_projection.weight"].t(),
        "logit_scale": hf["logit_scale"],
    }
    for ours, theirs, layers in (("visual.transformer.resblocks", "vision_model.encoder.layers", vision_layers),
                                 ("transformer.resblocks", "text_model.encoder.layers", text_layers)):
        for i in range(layers):
            o, t = f"{ours}.{i}", f"{theirs}.{i}"
            out[f"{o}.ln_1.weight"], out[f"{o}.ln_1.bias"] = hf[f"{t}.layer_norm1.weight"], hf[f"{t}.layer_norm1.bias"]
            out[f"{o}.attn.in_proj_weight"] = torch.cat([hf[f"{t}.self_attn.{p}_proj.weight"] for p in "qkv"])
            out[f"{o}.attn.in_proj_bias"] = torch.cat([hf[f"{t}.self_attn.{p}_proj.bias"] for p in "qkv"])
            out[f"{o}.attn.out_proj.weight"] = hf[f"{t}.self_attn.out_proj.weight"]
            out[f"{o}.attn.out_proj.bias"] = hf[f"{t}.self_attn.out_proj.bias"]
            out[f"{o}.ln_2.weight"], out[f"{o}.ln_2.bias"] = hf[f"{t}.layer_norm2.weight"], hf[f"{t}.layer_norm2.bias"]
            out[f"{o}.mlp.c_fc.weight"], out[f"{o}.mlp.c_fc.bias"] = hf[f"{t}.mlp.fc1.weight"], hf[f"{t}.mlp.fc1.bias"]
            out[f"{o}.mlp.c_proj.weight"], out[f"{o}.mlp.c_proj.bias"] = hf[f"{t}.mlp.fc2.weight"], hf[f"{t}.mlp.fc2.bias"]
    return {k: v.detach().clone().contiguous() for k, v in out.items()}


def features(model, pixels, ids):
    image = model.get_image_features(pixel_values=pixels)
    text = model.get_text_features(input_ids=ids)
    image, text = getattr(image, "pooler_output", image), getattr(text, "pooler_output", text)
    return image, text


def close(a, b, what, tol=1e-5):
    err = ((a - b).abs().max() / b.abs().max()).item()
    assert err < tol, f"{what}: relative error {err}"
    print(f"  {what}: open_clip vs Hugging Face, max relative error {err:.2e}")


def main() -> None:
    seed_everything(0)
    out = {}

    # --- small: random weights in both spellings, and the gradients ---
    config = CLIPConfig(**SMALL)
    model = CLIPModel(config).eval()
    with torch.no_grad():
        model.logit_scale.fill_(2.6592)  # ln(1/0.07), CLIP's initial value
    folder = os.path.join(FIXTURES, "ch11-clip-small-hf")
    os.makedirs(folder, exist_ok=True)
    hf_state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if "position_ids" not in k}
    save_file(hf_state, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=2, sort_keys=True, default=str)
    pixels = torch.randn(2, 3, 32, 32)
    # Three rows: <bos> tokens <eos=999, the largest id> then padding; the last row fills the context.
    ids = torch.tensor([[0, 17, 42, 999] + [1] * 12, [0, 5, 999] + [1] * 13, [0] + list(range(100, 114)) + [999]])
    image, text = features(model, pixels, ids)
    logits = model(input_ids=ids, pixel_values=pixels).logits_per_image
    out.update({"small.pixels": pixels, "small.ids": ids.float(), "small.image_features": image, "small.text_features": text,
                "small.logits": logits})
    oc_state = to_open_clip(hf_state, 2, 2)
    save_file(oc_state, os.path.join(FIXTURES, "ch11-clip-small-openclip.safetensors"), metadata={"format": "pt"})
    oc = open_clip.model.CLIP(embed_dim=24, quick_gelu=True,
                              vision_cfg=CLIPVisionCfg(layers=2, width=64, head_width=16, patch_size=8, image_size=32),
                              text_cfg=CLIPTextCfg(context_length=16, vocab_size=1000, width=32, heads=4, layers=2)).eval()
    missing, unexpected = oc.load_state_dict(oc_state, strict=False)
    assert not unexpected and all("attn_mask" in k for k in missing), (missing, unexpected)
    with torch.no_grad():
        oc_image, oc_text = oc.encode_image(pixels), oc.encode_text(ids)
    close(oc_image, image, "small image features")
    close(oc_text, text, "small text features")
    out.update({"small.openclip_image_features": oc_image, "small.openclip_text_features": oc_text})
    # Gradients of a fixed linear readout of both features, for every parameter.
    model.train(False)
    r_image, r_text = torch.randn_like(image), torch.randn_like(text)
    image, text = features(model, pixels, ids)
    ((image * r_image).sum() + (text * r_text).sum()).backward()
    out.update({"small.r_image": r_image, "small.r_text": r_text})
    for key, p in model.named_parameters():
        if p.grad is not None:
            out[f"small.grad.{key}"] = p.grad.detach().clone()

    # --- full size: ViT-B/32 with deterministic weights under Hugging Face's keys ---
    torch.manual_seed(0)
    big = CLIPModel(CLIPConfig()).eval()  # the defaults are openai/clip-vit-base-patch32's shapes, quick_gelu
    fill_deterministic(big)
    big_pixels = deterministic((1, 3, 224, 224), "pixels", scale=1.0)
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    big_ids = tokenizer(["a photo of a dog", "a diagram of CLIP's two towers, with its text tower reading 77 tokens"])
    with torch.no_grad():
        big_image, big_text = features(big, big_pixels, big_ids)
        big_logits = big(input_ids=big_ids, pixel_values=big_pixels).logits_per_image
        oc_big = open_clip.create_model("ViT-B-32-quickgelu", pretrained=None).eval()
        missing, unexpected = oc_big.load_state_dict(to_open_clip(big.state_dict(), 12, 12), strict=False)
        assert not unexpected and all("attn_mask" in k for k in missing), (missing, unexpected)
        oc_big_image, oc_big_text = oc_big.encode_image(big_pixels), oc_big.encode_text(big_ids)
    close(oc_big_image, big_image, "ViT-B/32 image features")
    close(oc_big_text, big_text, "ViT-B/32 text features")
    out.update({"b32.ids": big_ids.float(), "b32.image_features": big_image, "b32.text_features": big_text,
                "b32.logits": big_logits, "b32.openclip_image_features": oc_big_image,
                "b32.openclip_text_features": oc_big_text})
    # CLIP's preprocessing as open_clip runs it, on images whose crop margin is odd (73 px: torchvision
    # rounds half to even) or that are upscaled (97 px wide, 150×100).
    from PIL import Image
    transform = open_clip.image_transform(224, is_train=False, mean=open_clip.OPENAI_DATASET_MEAN, std=open_clip.OPENAI_DATASET_STD)
    for name in ("odd_333x251_422", "tall_97x301", "small_150x100"):
        out[f"preprocess.{name}"] = transform(Image.open(os.path.join(FIXTURES, "images", name + ".jpg")).convert("RGB"))
    save_fixture("ch11-clip", out, {"transformers": __import__("transformers").__version__, "open_clip": open_clip.__version__})


if __name__ == "__main__":
    main()
