/// How strongly each ingredient of a token shows in one space. Features (the projector's
/// output) carry more appearance: texture, light, the parts of an object; the query space
/// (CLIP-like) carries more meaning and a strong shared "this is an image" offset.
struct TokenLook {
    /// The direction every image token shares (the modality offset of CLIP-like spaces).
    var global: Float
    /// The unit's view: AnyRes base view or tile.
    var view: Float
    /// The shot's look (colour grade, lighting).
    var tone: Float
    /// Background material where nothing covers it, and under an object.
    var material: Float
    var materialUnderObject: Float
    var concept: Float
    /// Variation across an object (its parts).
    var part: Float
    /// Smooth spatial fields (light, texture).
    var fields: Float
    /// Norm of the isotropic noise in the latent space.
    var latentNoise: Float
    /// Standard deviation of the noise added to each output element (latents project to
    /// elements of standard deviation about 1.2).
    var elementNoise: Float

    static let features = TokenLook(global: 0.3, view: 0.2, tone: 0.25, material: 1, materialUnderObject: 0.25, concept: 1,
                                    part: 0.35, fields: 1, latentNoise: 0.3, elementNoise: 0.2)
    static let embeddings = TokenLook(global: 0.5, view: 0.1, tone: 0.1, material: 1, materialUnderObject: 0.15, concept: 1,
                                      part: 0.15, fields: 0.5, latentNoise: 0.25, elementNoise: 0.15)
}
